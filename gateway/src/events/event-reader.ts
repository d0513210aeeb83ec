import type { ClipState, EventsQuery } from '@doorstep/proto'
import type { EventIndex } from './event-index.js'
import type { IndexedEvent } from './event-row.js'

/** One page of the events API. */
export interface EventPage {
  events: IndexedEvent[]
  nextCursor: string | null
}

/**
 * Where the events API and the case pages read events: the gateway's own index on one machine, the
 * cluster's shared table when gateways share PostgreSQL. Writes do not go through it: each gateway
 * indexes its own units' events on its ingest path.
 */
export interface EventReader {
  query(q: EventsQuery): Promise<EventPage>
  get(id: string): Promise<IndexedEvent | undefined>
  /** Every event of the units that started in [from, to], newest first, at most `perUnit` of each. */
  ofUnits(deviceIds: readonly string[], from: number, to: number, perUnit: number): Promise<IndexedEvent[]>
}

/**
 * The events as the clips feature sees them: the one it uploads to, holds and sweeps, and whose clip
 * state it moves on (`uploading`, `ready`, `rejected`, `expired`). On one machine the gateway's own
 * index; when gateways share PostgreSQL the cluster's table, so that a unit's clip goes up through
 * whichever gateway it reaches and every gateway sees its state.
 */
export interface ClipEvents {
  get(id: string): IndexedEvent | undefined | Promise<IndexedEvent | undefined>
  setClipState(id: string, state: ClipState): void | Promise<void>
  unfinishedClipsBefore(before: number): IndexedEvent[] | Promise<IndexedEvent[]>
}

/** The gateway's own SQLite index as a reader. */
export function localReader(index: () => EventIndex): EventReader {
  return {
    query: async (q) => index().query(q),
    get: async (id) => index().get(id),
    ofUnits: async (ids, from, to, perUnit) => index().ofUnits(ids, from, to, perUnit),
  }
}
