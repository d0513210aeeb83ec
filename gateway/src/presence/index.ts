/** The presence feature's public surface: other features import only this file. */
export { Presence } from './presence.js'
