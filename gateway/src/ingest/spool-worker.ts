/**
 * The spool's worker thread: owns the spool's SQLite connection and answers
 * one request at a time, in order. Requests and replies are plain objects
 * (see spool.ts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { type CommitRequest, SpoolStore } from './spool-store.js'

export interface WorkerOptions {
  /** The gateway's database; its event index must exist already. */
  file: string
  /** An older version's separate spool file, moved in at open. */
  legacyFile?: string
  /** Name each indexed event in the event outbox (gateways sharing PostgreSQL). */
  outbox?: boolean
}

export type WorkerRequest =
  | { id: number; op: 'commit'; req: CommitRequest }
  | { id: number; op: 'read'; afterSeq: number; limit: number }
  | { id: number; op: 'close' }

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

/** Told without being asked (id -1): the event index moved rows on into their months. */
export interface IndexMoveNotice {
  id: -1
  moved: number
  recentRows: number
  more: boolean
  /** A move failed; the next turn tries again. */
  error?: string
}

/** How often the worker looks whether the event index has rows to move on, ms. */
const ROLLOVER_EVERY_MS = 1000

const port = parentPort
if (!port) throw new Error('spool-worker runs only as a worker thread')
let store: SpoolStore
try {
  const opts = workerData as WorkerOptions
  store = new SpoolStore(opts.file, opts.legacyFile, { outbox: opts.outbox ?? false })
  port.postMessage({ id: 0, ok: true, value: store.stats() } satisfies WorkerReply)
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: (err as Error).message } satisfies WorkerReply)
  process.exit(1)
}

/**
 * The event index's rows move on between commits, a chunk per turn: commits that arrive meanwhile
 * wait at most one chunk. A large index of an earlier version moves this way too, chunk after chunk.
 */
let closed = false
function rollOver(): void {
  if (closed) return
  let next = ROLLOVER_EVERY_MS
  try {
    const step = store.rollOver(Date.now())
    if (step.moved > 0) port?.postMessage({ id: -1, ...step } satisfies IndexMoveNotice)
    if (step.more) next = 0
  } catch (err) {
    port?.postMessage({
      id: -1,
      moved: 0,
      recentRows: -1,
      more: false,
      error: (err as Error).message,
    } satisfies IndexMoveNotice)
  }
  const t = next === 0 ? setImmediate(rollOver) : setTimeout(rollOver, next)
  if (typeof t === 'object' && 'unref' in t) t.unref()
}
setTimeout(rollOver, ROLLOVER_EVERY_MS).unref()

port.on('message', (m: WorkerRequest) => {
  try {
    let value: unknown
    switch (m.op) {
      case 'commit':
        value = store.commit(m.req)
        break
      case 'read':
        value = store.read(m.afterSeq, m.limit)
        break
      case 'close':
        closed = true
        store.close()
        value = null
        break
    }
    port.postMessage({ id: m.id, ok: true, value } satisfies WorkerReply)
  } catch (err) {
    port.postMessage({ id: m.id, ok: false, error: (err as Error).message } satisfies WorkerReply)
  }
})
