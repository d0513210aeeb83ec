/** The alerts feature's public surface: other features import only this file. */
export { ALERT_RING, AlertHub } from './alert-hub.js'
export { AlertRules } from './alert-rules.js'
export { EdgeSet, EVENT_SEVERITY, isLowStorage } from './conditions.js'
export { RedisAlertRelay } from './redis-alert-relay.js'
export { alertsRoute } from './ws-route.js'
