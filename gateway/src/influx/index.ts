/** The influx feature's public surface: other features import only this file. */
export { missedByCqs } from './heartbeat-schema.js'
export { InfluxStore, RP_EVENTS } from './influx-store.js'
export { escapeFieldString, escapeTag } from './line-protocol.js'
export { ManagedInfluxd } from './managed-influxd.js'
