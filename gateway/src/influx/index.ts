/** The influx feature's public surface: other features import only this file. */
export { InfluxStore, RP_EVENTS } from './influx-store.js'
export { escapeFieldString, escapeTag } from './line-protocol.js'
export { ManagedInfluxd } from './managed-influxd.js'
