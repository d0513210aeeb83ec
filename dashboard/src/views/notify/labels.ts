import type { ChannelType, NotificationStatus, NotifyKind } from '@doorstep/proto'
import type { MessageKey } from '../../i18n/catalogue.js'

export const KIND_LIST: readonly NotifyKind[] = [
  'offline',
  'tamper',
  'not-recording',
  'low-storage',
  'campaign-paused',
]

export const KIND_LABEL: Record<NotifyKind, MessageKey> = {
  offline: 'notify.kind.offline',
  tamper: 'notify.kind.tamper',
  'not-recording': 'notify.kind.notRecording',
  'low-storage': 'notify.kind.lowStorage',
  'campaign-paused': 'notify.kind.campaignPaused',
}

export const CHANNEL_TYPE_LABEL: Record<ChannelType, MessageKey> = {
  webhook: 'notify.type.webhook',
  email: 'notify.type.email',
  push: 'notify.type.push',
}

export const STATUS_LABEL: Record<NotificationStatus, MessageKey> = {
  pending: 'notify.status.pending',
  retrying: 'notify.status.retrying',
  sent: 'notify.status.sent',
  failed: 'notify.status.failed',
  suppressed: 'notify.status.suppressed',
}

/** The presence colours again: sent is fine, on its way is waiting, failed needs a look. */
export const STATUS_TONE: Record<NotificationStatus, string> = {
  pending: 'state-stale',
  retrying: 'state-stale',
  sent: 'state-online',
  failed: 'state-offline',
  suppressed: 'state-unknown',
}
