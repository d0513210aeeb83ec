import type { RoomMessages } from './define.js'
import { admin } from './messages/admin.js'
import { cases } from './messages/cases.js'
import { config } from './messages/config.js'
import { errors } from './messages/errors.js'
import { events } from './messages/events.js'
import { firmware } from './messages/firmware.js'
import { fleet } from './messages/fleet.js'
import { map } from './messages/map.js'
import { notify } from './messages/notify.js'
import { owner } from './messages/owner.js'
import { shell } from './messages/shell.js'

/**
 * Every room's messages, by namespace: a view asks for `t('shell.signOut')`. A room adds its file under
 * `messages/` and one line here.
 */
export const CATALOGUE = {
  shell,
  events,
  fleet,
  owner,
  cases,
  admin,
  map,
  firmware,
  config,
  notify,
  errors,
} as const

type Catalogue = typeof CATALOGUE
type KeysOf<N extends keyof Catalogue> = Catalogue[N] extends RoomMessages<infer K> ? K : never

/** Every message key, `namespace.key`: a typo in a view is a type error. */
export type MessageKey = { [N in keyof Catalogue]: `${N & string}.${KeysOf<N>}` }[keyof Catalogue]
