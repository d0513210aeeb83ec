import { randomUUID } from 'node:crypto'
import type { EventPhase } from '@doorstep/proto'
import { type Db, openDb } from '../../gateway/src/db/sqlite.js'
import {
  EventIndex,
  type EventSite,
  type IndexTuple,
  toIndexTuple,
} from '../../gateway/src/events/event-index.js'
import { Spool, type SpoolOptions } from '../../gateway/src/ingest/spool.js'

export type AppendResult = { duplicate: false; seq: number } | { duplicate: true }

/** `spool.append` as a promise, for tests that await one event at a time. */
export function appendEvent(
  spool: Spool,
  rp: string,
  line: string,
  index: IndexTuple,
): Promise<AppendResult> {
  return new Promise((resolve, reject) => {
    spool.append(rp, line, index, (err, seq) => {
      if (err) reject(err)
      else resolve(seq < 0 ? { duplicate: true } : { duplicate: false, seq })
    })
  })
}

/**
 * The gateway's database as the spool expects it (the events feature's index
 * made first), with the main thread's own connection for reading it back.
 */
export async function openSpool(
  dir: string,
  opts: SpoolOptions = {},
): Promise<{ spool: Spool; db: Db; index: EventIndex; file: string }> {
  const file = `${dir}/doorstep.db`
  const db = openDb(file)
  const index = new EventIndex(db)
  index.load()
  const spool = new Spool(file, opts)
  await spool.open()
  return { spool, db, index, file }
}

export const site: EventSite = { id: 'cam-1', district: 7, lat: 29.3, lon: 117.2 }

/** An index tuple for one lifecycle message of `eventId` (new id when absent) from `from`. */
export function eventTuple(
  over: { eventId?: string; phase?: EventPhase; from?: EventSite; t?: number; score?: number } = {},
): IndexTuple {
  return toIndexTuple(
    over.from ?? site,
    {
      eventId: over.eventId ?? randomUUID(),
      phase: over.phase ?? 'start',
      kind: 'motion',
      score: over.score ?? 0.5,
    },
    over.t ?? 1000,
  )
}
