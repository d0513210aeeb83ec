import type { ConfigStatus } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import type { MessageKey } from '../../i18n/catalogue.js'
import { useI18n } from '../../i18n/use-i18n.js'

export const CONFIG_STATUSES: readonly ConfigStatus[] = ['applied', 'lagging', 'refused', 'unset']

export const CONFIG_STATUS_LABEL: Record<ConfigStatus, MessageKey> = {
  applied: 'config.status.applied',
  lagging: 'config.status.lagging',
  refused: 'config.status.refused',
  unset: 'config.status.unset',
}

/** The presence colours say the same thing here: in step is fine, lagging is waiting, refused needs a look. */
const TONE: Record<ConfigStatus, string> = {
  applied: 'state-online',
  lagging: 'state-stale',
  refused: 'state-offline',
  unset: 'state-unknown',
}

/** Where a unit's configuration stands: colour and a word, never colour alone. */
export function ConfigStatusBadge(props: { status: ConfigStatus }): JSX.Element {
  const { t } = useI18n()
  return h(
    'span',
    { class: `badge ${TONE[props.status]}`, 'data-status': props.status, 'data-testid': 'config-status' },
    t(CONFIG_STATUS_LABEL[props.status]),
  )
}
