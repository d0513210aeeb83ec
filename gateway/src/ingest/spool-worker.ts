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
}

export type WorkerRequest =
  | { id: number; op: 'commit'; req: CommitRequest }
  | { id: number; op: 'read'; afterSeq: number; limit: number }
  | { id: number; op: 'close' }

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

const port = parentPort
if (!port) throw new Error('spool-worker runs only as a worker thread')
let store: SpoolStore
try {
  const opts = workerData as WorkerOptions
  store = new SpoolStore(opts.file, opts.legacyFile)
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
        value = store.commit(m.req)
        break
      case 'read':
        value = store.read(m.afterSeq, m.limit)
        break
      case 'close':
        store.close()
        value = null
        break
    }
    port.postMessage({ id: m.id, ok: true, value } satisfies WorkerReply)
  } catch (err) {
    port.postMessage({ id: m.id, ok: false, error: (err as Error).message } satisfies WorkerReply)
  }
})
