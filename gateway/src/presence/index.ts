/** The presence feature's public surface: other features import only this file. */
export { Presence } from './presence.js'
export { RedisPresence, SharedPresence } from './redis-presence.js'
