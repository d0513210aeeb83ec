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
export { type ClipEvents, type EventPage, type EventReader, localReader } from './event-reader.js'
export type { EventShipper } from './event-shipper.js'
export { eventView } from './event-view.js'
export { Events } from './events.js'
export { haversineM } from './geo.js'
export { eventRoutes } from './routes.js'
export { SharedEventTable } from './shared-events.js'
