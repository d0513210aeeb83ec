import type { AlertKind } from '@doorstep/proto'

/** How each alert kind (a superset of event kinds) is named and drawn, the same in the feed and event lists. */
export const KIND_LABEL: Record<AlertKind, string> = {
  motion: 'Motion',
  person: 'Person',
  vehicle: 'Vehicle',
  sound: 'Sound',
  tamper: 'Tamper',
  offline: 'Offline',
  stale: 'Stale',
  online: 'Online',
  'low-storage': 'Low storage',
  'not-recording': 'Not recording',
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
