/** The alerts feature's public surface: other features import only this file. */
export { AlertHub } from './alert-hub.js'
export { AlertRules } from './alert-rules.js'
export { alertsRoute } from './ws-route.js'
