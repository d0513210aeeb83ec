import type { CampaignView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { messageOf } from '../../api/errors.js'
import type { CampaignAction } from '../../api/firmware.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'

/** Which actions a campaign in each state allows (the gateway answers 409 to any other). */
const ALLOWED: Record<CampaignView['state'], readonly CampaignAction[]> = {
  draft: ['start', 'cancel'],
  running: ['pause', 'cancel'],
  paused: ['resume', 'cancel'],
  cancelled: [],
  done: [],
}

/**
 * Start, pause, resume and cancel (admins). Cancelling asks first: units not yet offered are skipped
 * for good. `onDone` gets the campaign as the gateway answered.
 */
export function CampaignActions(props: {
  campaign: CampaignView
  onDone: (c: CampaignView) => void
}): JSX.Element | null {
  const { api } = useServices()
  const { t } = useI18n()
  const [busy, setBusy] = useState<CampaignAction | null>(null)
  const [error, setError] = useState<unknown>(null)
  const c = props.campaign
  const allowed = ALLOWED[c.state]
  if (allowed.length === 0) return null

  const act = (action: CampaignAction) => {
    if (action === 'cancel' && !window.confirm(t('firmware.action.cancelConfirm', { name: c.name }))) return
    setBusy(action)
    setError(null)
    api.firmware.act(c.id, action).then(
      (next) => {
        setBusy(null)
        props.onDone(next)
      },
      (err: unknown) => {
        setBusy(null)
        setError(err)
      },
    )
  }

  return h(
    'div',
    { class: 'case-actions' },
    allowed.map((a) =>
      h(
        'button',
        {
          key: a,
          type: 'button',
          class: a === 'cancel' ? 'btn' : 'btn primary',
          disabled: busy !== null,
          onClick: () => act(a),
          'data-testid': `campaign-${a}`,
        },
        busy === a ? t('firmware.action.working') : t(`firmware.action.${a}`),
      ),
    ),
    error === null
      ? null
      : h(
          'p',
          { class: 'error-box', role: 'alert', 'data-testid': 'campaign-action-error' },
          t('firmware.action.failed', { message: messageOf(error, t) }),
        ),
  )
}
