import type { AlertKind } from '@doorstep/proto'
import type { MessageKey } from '../i18n/catalogue.js'

/** How each alert kind (a superset of event kinds) is named, the same in the feed and event lists. */
export function kindKey(kind: AlertKind): MessageKey {
  return `events.kind.${kind}` as const
}

/** The dashboard's own line for an alert, for languages the gateway's English alert text is not in. */
export function alertTextKey(kind: AlertKind): MessageKey {
  return `events.alert.text.${kind}` as const
}

/** A glyph for alerts without a picture (health alerts, events without a clip yet), so the column never looks broken. */
export const KIND_GLYPH: Record<AlertKind, string> = {
  motion: '~',
  person: '●',
  vehicle: '▬',
  sound: '♪',
  tamper: '!',
  offline: '↓',
  stale: '…',
  online: '↑',
  'low-storage': '▥',
  'not-recording': '■',
}
