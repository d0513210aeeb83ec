/** The events feature's public surface: other features import only this file. */
export {
  EVENTS_SCHEMA,
  EventIndex,
  eventKey,
  type IndexedEvent,
  type IndexTuple,
  type RetentionResult,
  type RolloverStep,
  toIndexTuple,
} from './event-index.js'
export { eventView } from './event-view.js'
export { Events } from './events.js'
export { haversineM } from './geo.js'
export { eventRoutes } from './routes.js'
