import type { CampaignView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { pauseReasonText } from './pause-reason.js'

/**
 * Where a campaign stands, in words: a draft, the canary, wave n of m, paused (and why), done or
 * cancelled. `wave` is the open wave as the page knows it (see openWave).
 */
export function CampaignStateText(props: {
  campaign: Pick<CampaignView, 'state' | 'reason' | 'waves'>
  wave: number
  testid?: string
}): JSX.Element {
  const { t } = useI18n()
  const c = props.campaign
  const phase =
    props.wave === 0
      ? t('firmware.phase.canary')
      : t('firmware.phase.wave', { wave: props.wave, waves: c.waves.length })
  let text: string
  switch (c.state) {
    case 'running':
      text = t('firmware.state.runningAt', { phase })
      break
    case 'paused':
      text = c.reason
        ? t('firmware.state.pausedWhy', { phase, reason: pauseReasonText(c.reason, t) })
        : t('firmware.state.pausedAt', { phase })
      break
    case 'cancelled':
      text = c.reason ? t('firmware.state.cancelledWhy', { reason: c.reason }) : t('firmware.state.cancelled')
      break
    default:
      text = t(`firmware.state.${c.state}`)
  }
  return h(
    'span',
    {
      class: `fw-state fw-state-${c.state}`,
      'data-testid': props.testid ?? 'campaign-state',
      'data-state': c.state,
      'data-wave': props.wave,
    },
    text,
  )
}
