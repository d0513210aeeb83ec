/**
 * The spool's worker thread: owns the spool's SQLite file and answers one
 * request at a time, in order. Requests and replies are plain objects (see
 * spool.ts). Given the event index's database, it also merges each durable
 * event into the index, after the spool's commit and before the reply: the
 * index's page writes then cost this thread, not the ingest path, and a unit
 * told "accepted" still finds its event indexed.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { type Db, openDb } from '../db/sqlite.js'
import { EventIndex, fromIndexTuple, type IndexItem } from '../events/event-index.js'
import { type CommitRequest, SpoolStore } from './spool-store.js'

/** What a commit answers: per event its sequence number (-1: a retry), and how indexing went. */
export interface CommitReply {
  seqs: number[]
  /** Event ids the index refused: the id belongs to another unit. */
  notIndexed: string[]
  /** Set when the index could not be written (the events are durable in the spool regardless). */
  indexError?: string
}

export interface WorkerOptions {
  file: string
  /** The database holding the event index (its table made by the events feature); none: no indexing. */
  indexFile?: string
}

export type WorkerRequest =
  | { id: number; op: 'commit'; req: CommitRequest; now: number }
  | { id: number; op: 'read'; afterSeq: number; limit: number }
  | { id: number; op: 'prune'; before: number }
  | { id: number; op: 'close' }

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

const port = parentPort
if (!port) throw new Error('spool-worker runs only as a worker thread')
let store: SpoolStore
let index: EventIndex | null = null
let indexDb: Db | null = null
try {
  const opts = workerData as WorkerOptions
  store = new SpoolStore(opts.file)
  if (opts.indexFile) {
    indexDb = openDb(opts.indexFile)
    // Fewer checkpoints: each rewrites every index page touched since the last; 40 MB of WAL between them.
    indexDb.pragma('wal_autocheckpoint = 10000')
    index = new EventIndex(indexDb)
    index.prepare()
  }
  port.postMessage({ id: 0, ok: true, value: store.stats() } satisfies WorkerReply)
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: (err as Error).message } satisfies WorkerReply)
  process.exit(1)
}

port.on('message', (m: WorkerRequest) => {
  try {
    let value: unknown
    switch (m.op) {
      case 'commit':
        value = commit(m.req, m.now)
        break
      case 'read':
        value = store.read(m.afterSeq, m.limit)
        break
      case 'prune':
        value = store.prune(m.before)
        break
      case 'close':
        store.close()
        indexDb?.close()
        value = null
        break
    }
    port.postMessage({ id: m.id, ok: true, value } satisfies WorkerReply)
  } catch (err) {
    port.postMessage({ id: m.id, ok: false, error: (err as Error).message } satisfies WorkerReply)
  }
})

function commit(req: CommitRequest, now: number): CommitReply {
  const seqs = store.commit(req, now)
  const reply: CommitReply = { seqs, notIndexed: [] }
  if (!index) return reply
  // Retries are merged too (the merge is idempotent): a gateway killed between the spool's commit and
  // the index's sent no PUBACK, so the unit's retry is what brings that event into the index.
  const items: IndexItem[] = []
  for (const row of req.events) if (row[3]) items.push(fromIndexTuple(row[3]))
  if (items.length === 0) return reply
  try {
    for (const ev of index.recordMany(items)) reply.notIndexed.push(ev.eventId)
  } catch (err) {
    reply.indexError = (err as Error).message
  }
  return reply
}
