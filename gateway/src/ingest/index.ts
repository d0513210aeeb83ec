/** The ingest feature's public surface: other features import only this file. */
export { Ingest } from './ingest.js'
export { presenceLine } from './points.js'
export { SPOOL_SCHEMA } from './spool-store.js'
