/**
 * The spool's worker thread: owns the SQLite file and answers one request at
 * a time, in order. Requests and replies are plain objects (see spool.ts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { type CommitRequest, SpoolStore } from './spool-store.js'

export type WorkerRequest =
  | { id: number; op: 'commit'; req: CommitRequest; now: number }
  | { id: number; op: 'read'; afterSeq: number; limit: number }
  | { id: number; op: 'prune'; before: number }
  | { id: number; op: 'close' }

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

const port = parentPort
if (!port) throw new Error('spool-worker runs only as a worker thread')
let store: SpoolStore
try {
  store = new SpoolStore((workerData as { file: string }).file)
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
        value = store.commit(m.req, m.now)
        break
      case 'read':
        value = store.read(m.afterSeq, m.limit)
        break
      case 'prune':
        value = store.prune(m.before)
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
