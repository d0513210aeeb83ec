import { Worker } from 'node:worker_threads'
import type { IndexTuple } from '../events/index.js'
import {
  type CommitRequest,
  type CommitResult,
  EVENT_SLOTS,
  type EventSlot,
  type SpoolRow,
} from './spool-store.js'
import type { IndexMoveNotice, WorkerOptions, WorkerReply, WorkerRequest } from './spool-worker.js'

export type { SpoolRow } from './spool-store.js'

/** Appenders told per turn of the event loop once their group is committed. */
const ACK_SLICE = 256

/** Told once an appended event is committed: its sequence number, -1 for a retry; or why it failed. */
export type AppendCallback = (err: Error | null, seq: number) => void

type WorkerOp = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never

export interface SpoolOptions {
  /** An older version's separate spool file: its rows are moved in at open. */
  legacyFile?: string
  /** Name each indexed event in the event outbox, for the shipper (gateways sharing PostgreSQL). */
  outbox?: boolean
  /** Told of event ids the index refused (another unit's id); their lines are stored regardless. */
  onNotIndexed?: (eventIds: string[]) => void
  /** Told when the worker moved event index rows on into their months, or failed to. */
  onIndexMove?: (notice: IndexMoveNotice) => void
}

/**
 * The durable FIFO between MQTT and InfluxDB (SQLite, WAL, synchronous=FULL;
 * see spool-store.ts), driven from a worker thread so that the fsync of a
 * commit never stalls the ingest path. Group commit falls out of it: while
 * one commit is in the worker, everything appended meanwhile waits and goes
 * as the next single transaction, so the busier the gateway, the larger the
 * groups and the fewer the fsyncs per event.
 */
export class Spool {
  readonly #file: string
  readonly #opts: SpoolOptions
  #worker: Worker | null = null
  #dead: Error | null = null
  #nextId = 1
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  /** The next group's events, EVENT_SLOTS each (see CommitRequest), and their callbacks in the same order. */
  #events: EventSlot[] = []
  #dones: AppendCallback[] = []
  #lines: Array<{ rp: string; line: string }> = []
  #deletes: CommitRequest['deletes'] = []
  #deletedRows = 0
  #deletedBytes = 0
  #committing: Promise<void> | null = null
  /** Committed groups whose appenders are still to be told, oldest first (see #tell). */
  #acks: Array<{ dones: AppendCallback[]; seqs: number[]; next: number }> = []
  #acking = false
  #scheduled = false
  /** A read is in the worker: nothing appended meanwhile is committed until it answers (see read). */
  #reading = false
  #rows = 0
  #bytes = 0

  constructor(file: string, opts: SpoolOptions = {}) {
    this.#file = file
    this.#opts = opts
  }

  async open(): Promise<void> {
    const worker = new Worker(new URL('./spool-worker-boot.mjs', import.meta.url), {
      workerData: {
        file: this.#file,
        legacyFile: this.#opts.legacyFile,
        outbox: this.#opts.outbox ?? false,
      } satisfies WorkerOptions,
    })
    const ready = new Promise<{ rows: number; bytes: number }>((resolve, reject) =>
      this.#calls.set(0, { resolve: (v) => resolve(v as { rows: number; bytes: number }), reject }),
    )
    worker.on('message', (r: WorkerReply | IndexMoveNotice) => {
      if (r.id === -1) {
        this.#opts.onIndexMove?.(r as IndexMoveNotice)
        return
      }
      const call = this.#calls.get(r.id)
      if (!call) return
      this.#calls.delete(r.id)
      if ('ok' in r && r.ok) call.resolve(r.value)
      else call.reject(new Error(`spool: ${'error' in r ? r.error : 'no answer'}`))
    })
    worker.on('error', (err) => this.#fail(err))
    worker.on('exit', (code) => {
      if (this.#worker) this.#fail(new Error(`spool worker exited (${code})`))
    })
    this.#worker = worker
    const s = await ready
    this.#rows = s.rows
    this.#bytes = s.bytes
  }

  /** Commits what is pending, then stops the worker. */
  async close(): Promise<void> {
    if (!this.#worker) return
    await this.#drain().catch(() => {})
    await this.#call({ op: 'close' }).catch(() => {})
    const w = this.#worker
    this.#worker = null
    await w.terminate()
  }

  get rows(): number {
    return this.#rows
  }

  /** Characters of line protocol held (close to bytes: lines are ASCII but for names). */
  get bytes(): number {
    return this.#bytes
  }

  /**
   * Merges an event into the event index and appends its line, unless the
   * unit sent this phase of this event before (a retried publish), then calls
   * `done` once both are durable in one commit: only then may the unit be
   * told the event was accepted. A callback, not a promise: each event waits
   * a group commit or two, so thousands are in flight at once and everything
   * they hold is copied at every scavenge. In heap snapshots taken mid-run,
   * with promises each in-flight publish held about 7 closures and 3
   * promises; with the callback about 2 closures and none. For the same
   * reason an event is three slots of the group's one array (its policy,
   * line and tuple) rather than a record of its own, and nothing per event
   * but the callback waits beside it.
   */
  append(rp: string, line: string, index: IndexTuple, done: AppendCallback): void {
    if (this.#dead) {
      done(this.#dead, -1)
      return
    }
    this.#events.push(rp, line, index)
    this.#dones.push(done)
    this.#schedule()
  }

  /** Appends lines nobody waits for (heartbeats spilled while InfluxDB is away). */
  appendLines(rp: string, lines: readonly string[]): void {
    for (const line of lines) this.#lines.push({ rp, line })
    this.#schedule()
  }

  /** Rows written to InfluxDB, by sequence number, with their lines' length in all; removed in the next group commit. */
  markDelivered(seqs: readonly number[], chars: number): void {
    if (seqs.length === 0) return
    // A batch's events are usually one run of sequence numbers: one range delete instead of one each.
    let lo = Number.POSITIVE_INFINITY
    let hi = 0
    for (const seq of seqs) {
      if (seq < lo) lo = seq
      if (seq > hi) hi = seq
    }
    this.#deletedRows += seqs.length
    this.#deletedBytes += chars
    this.#deletes.push(hi - lo + 1 === seqs.length ? { lo, hi } : { seqs: [...seqs] })
    this.#schedule()
  }

  /**
   * The oldest rows after `afterSeq`, in order, once everything appended or
   * delivered before is committed. What is appended while the read is in
   * the worker waits, uncommitted, until it answers: the reader can then
   * still take those lines back (`withdrawLines`) instead of finding them in
   * the spool only on its next read, or never if it has stopped reading.
   */
  async read(afterSeq: number, limit: number): Promise<SpoolRow[]> {
    await this.#settle()
    this.#reading = true
    try {
      return (await this.#call({ op: 'read', afterSeq, limit })) as SpoolRow[]
    } finally {
      this.#reading = false
      if (this.#pending()) this.#schedule()
    }
  }

  /** Takes back the lines appended but not yet committed (see read), in order. */
  withdrawLines(): Array<{ rp: string; line: string }> {
    const lines = this.#lines
    this.#lines = []
    return lines
  }

  #schedule(): void {
    if (this.#scheduled || this.#committing || this.#reading) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      void this.#commit()
    })
  }

  #pending(): boolean {
    return this.#dones.length > 0 || this.#lines.length > 0 || this.#deletes.length > 0
  }

  /** Sends one group; when it is done, sends whatever gathered meanwhile as the next. */
  #commit(): Promise<void> {
    if (this.#committing) return this.#committing
    if (!this.#pending()) return Promise.resolve()
    const events = this.#events
    const dones = this.#dones
    const lines = this.#lines
    const req: CommitRequest = { events, lines, deletes: this.#deletes }
    const deletedRows = this.#deletedRows
    const deletedBytes = this.#deletedBytes
    this.#events = []
    this.#dones = []
    this.#lines = []
    this.#deletes = []
    this.#deletedRows = 0
    this.#deletedBytes = 0
    this.#committing = this.#call({ op: 'commit', req }).then(
      (value) => {
        const { seqs, notIndexed } = value as CommitResult
        if (notIndexed.length > 0) this.#opts.onNotIndexed?.(notIndexed)
        let added = lines.length
        let addedBytes = 0
        for (const l of lines) addedBytes += l.line.length
        for (let i = 0; i < dones.length; i++) {
          if ((seqs[i] as number) >= 0) {
            added++
            addedBytes += (events[i * EVENT_SLOTS + 1] as string).length
          }
        }
        this.#rows += added - deletedRows
        this.#bytes += addedBytes - deletedBytes
        this.#committing = null
        if (this.#pending()) void this.#commit()
        this.#acks.push({ dones, seqs, next: 0 })
        if (!this.#acking) {
          this.#acking = true
          this.#tell()
        }
      },
      (err: Error) => {
        this.#committing = null
        for (const done of dones) done(err, -1)
        if (this.#pending()) this.#schedule()
      },
    )
    return this.#committing
  }

  /**
   * Tells the appenders of committed groups, ACK_SLICE at a time with a turn
   * of the event loop between slices. Telling a unit its event is accepted
   * makes the broker read and handle its next messages, which append the
   * next group: told all at once, a group of thousands would keep the main
   * thread busy while the worker sits idle, and then the other way round.
   * In slices, the next commit starts with the first slices' appends while
   * the rest are told.
   */
  #tell(): void {
    let budget = ACK_SLICE
    while (budget > 0) {
      const a = this.#acks[0]
      if (!a) break
      const end = Math.min(a.dones.length, a.next + budget)
      for (let i = a.next; i < end; i++) (a.dones[i] as AppendCallback)(null, a.seqs[i] as number)
      budget -= end - a.next
      a.next = end
      if (end === a.dones.length) this.#acks.shift()
    }
    if (this.#acks.length === 0) {
      this.#acking = false
      return
    }
    setImmediate(() => this.#tell())
  }

  /** Resolves once nothing appended or delivered so far is still uncommitted, nor anything appended meanwhile. */
  async #drain(): Promise<void> {
    while (this.#committing || this.#pending()) {
      if (this.#dead) throw this.#dead
      await (this.#committing ?? this.#commit())
    }
  }

  /**
   * Resolves once what was appended or delivered before the call is
   * committed, without waiting for what arrives meanwhile: under a steady
   * stream of appends, #drain would never see the spool idle.
   */
  async #settle(): Promise<void> {
    if (this.#dead) throw this.#dead
    // The group in the worker now, then the one that holds what is pending now (it goes when that returns).
    if (this.#committing) await this.#committing
    if (this.#committing) await this.#committing
    else if (this.#pending()) await this.#commit()
    if (this.#dead) throw this.#dead
  }

  #call(op: WorkerOp): Promise<unknown> {
    const worker = this.#worker
    if (!worker || this.#dead) return Promise.reject(this.#dead ?? new Error('spool is closed'))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject })
      worker.postMessage({ id, ...op })
    })
  }

  #fail(err: Error): void {
    this.#dead = err
    for (const c of this.#calls.values()) c.reject(err)
    this.#calls.clear()
    const dones = this.#dones
    this.#events = []
    this.#dones = []
    for (const done of dones) done(err, -1)
  }
}
