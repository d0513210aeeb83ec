import { h, type JSX } from 'preact'
import { configApi } from '../../api/config-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { useLoad } from '../owner/load.js'
import { ConfigStatusBadge } from './config-status.js'

/** On a unit's page, for those who may set it: the configuration version wanted against the one it runs. */
export function UnitConfigSummary(props: { id: string }): JSX.Element | null {
  const { http } = useServices()
  const { t } = useI18n()
  const [view] = useLoad((s) => configApi.unit(http, props.id, s), [props.id])
  if (view.kind !== 'ok') return null
  const v = view.data
  return h(
    'p',
    { class: 'config-summary', 'data-testid': 'unit-config' },
    h('strong', null, `${t('config.unit.heading')} `),
    h(ConfigStatusBadge, { status: v.status }),
    ' ',
    t('config.unit.versions', {
      desired: v.desired ? `v${v.desired.version}` : '—',
      running: v.reported ? `v${v.reported.runningVersion}` : '—',
    }),
    v.status === 'refused' && v.reported?.reason
      ? ` ${t('config.unit.refusedWhy', { reason: v.reported.reason })}`
      : '',
    ' ',
    h(
      'a',
      { href: hrefOf({ name: 'config', device: props.id }), 'data-testid': 'unit-config-link' },
      t('config.unit.change'),
    ),
  )
}
