import { isDoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { LateHeartbeats, type LateRange } from './late-heartbeats.js'
import { type LineBuffer, LineBufferPool } from './line-buffer.js'
import type { Spool, SpoolRow } from './spool.js'

/** Where batches go; InfluxStore implements it. `rp` '' means the database's default policy. */
export interface LineSink {
  writeLines(body: string | Buffer, rp?: string): Promise<void>
  /** Recomputes the heartbeat downsamples from `fromMs` to `toMs`, for heartbeats the CQs missed. */
  resampleHeartbeats?(
    fromMs: number,
    toMs: number,
    onHour?: (done: number, of: number) => void,
  ): Promise<void>
}

/** One InfluxDB write: lines bound for one retention policy. */
interface Batch {
  rp: string
  /** Every line of the batch, as the body to send. */
  lines: LineBuffer
  /**
   * The lines among them already durable in the spool (events): their
   * sequence numbers, their places in `lines` and their length in all. Plain
   * numbers, not a row object each: a batch waits for its write with
   * thousands of them.
   */
  seqs: number[]
  spooledAt: number[]
  spooledChars: number
}

const isRejection = (err: unknown): boolean =>
  isDoorstepError(err) && err.code === 'DOORSTEP_ERR_INFLUX_REJECTED'

const size = (b: Batch): number => b.lines.count

/** The lines only in memory, for the rare spill to the spool. */
function looseLines(b: Batch): string[] {
  const all = b.lines.lines()
  if (b.spooledAt.length === 0) return all
  const inSpool = new Set(b.spooledAt)
  return all.filter((_, i) => !inSpool.has(i))
}

function newBatch(rp: string, lines: LineBuffer): Batch {
  return { rp, lines, seqs: [], spooledAt: [], spooledChars: 0 }
}

/** A publisher held on a full queue; told `null` when it may go on. */
export type RoomWaiter = (err: null) => void

export interface BatchWriterOptions {
  batchSize: number
  flushMs: number
  /** Points in memory before `enqueue` asks the caller to wait. */
  queueMax: number
  /** InfluxDB writes in flight at once. */
  concurrency?: number
  retryMinMs?: number
  retryMaxMs?: number
}

/**
 * batch → write: the last stages of the pipeline. Points collect in memory,
 * one batch per retention policy, and go to InfluxDB cut on size or after
 * `flushMs`. Memory is bounded: past `queueMax`, `enqueue` answers false and
 * the caller hands `whenRoom` the publisher's acknowledgement, which is called
 * once there is room; aedes reads no more from that socket meanwhile.
 *
 * When a write fails, the writer turns to the spool: what it held goes to
 * disk, new points follow them there, and the spool is replayed in order,
 * with backoff, until it is empty. Events are in the spool from the start, so
 * for them the spool alone is the truth.
 */
export class BatchWriter {
  readonly #sink: LineSink
  readonly #spool: Spool
  readonly #log: Logger
  readonly #metrics: Metrics
  readonly #o: Required<BatchWriterOptions>
  readonly #filling = new Map<string, Batch>()
  readonly #pool = new LineBufferPool()
  #ready: Batch[] = []
  #queued = 0
  #inFlight = 0
  #maxInFlight = 0
  #timer: NodeJS.Timeout | null = null
  /** Publishers held while the queue is full, told together once there is room (see #release). */
  #waiting: RoomWaiter[] = []
  #backlog = false
  #replay: Promise<void> | null = null
  /** Backoff pauses in progress, each cut short by stop(). */
  readonly #wakes = new Set<() => void>()
  #stopped = false
  #idle: Array<() => void> = []
  /** Heartbeats a replay wrote too late for the downsampling CQs, recomputed once it has drained. */
  readonly #late = new LateHeartbeats()
  #resampling: Promise<void> | null = null

  constructor(sink: LineSink, spool: Spool, log: Logger, metrics: Metrics, opts: BatchWriterOptions) {
    this.#sink = sink
    this.#spool = spool
    this.#log = log
    this.#metrics = metrics
    this.#o = { concurrency: 2, retryMinMs: 250, retryMaxMs: 10_000, ...opts }
  }

  /** Replays whatever a previous run left in the spool. */
  start(): void {
    this.#stopped = false
    if (this.#spool.rows > 0) {
      this.#log.info({ rows: this.#spool.rows }, 'replaying spool left by the previous run')
      this.#enterBacklog()
    }
  }

  get queued(): number {
    return this.#queued
  }

  get backlog(): boolean {
    return this.#backlog
  }

  /**
   * Queues one line for retention policy `rp`. `seq` is set for a line
   * already durable in the spool (its sequence number there). Returns false
   * when memory is full: the line is queued, and the caller holds its
   * publisher until `whenRoom` tells it to go on. While the spool is being
   * replayed the line goes behind it on disk instead (a line with `seq` is
   * there already), and the answer is always true.
   */
  enqueue(line: string, rp: string, seq?: number): boolean {
    if (this.#backlog) {
      // The spool is being replayed; keep order by adding behind it.
      if (seq === undefined) this.#spool.appendLines(rp, [line])
      return true
    }
    let b = this.#filling.get(rp)
    if (!b) {
      b = newBatch(rp, this.#pool.take())
      this.#filling.set(rp, b)
    }
    if (seq !== undefined) {
      b.seqs.push(seq)
      b.spooledAt.push(b.lines.count)
      b.spooledChars += line.length
    }
    b.lines.append(line)
    this.#queued++
    if (size(b) >= this.#o.batchSize) this.#cut()
    else if (!this.#timer) this.#timer = setTimeout(() => this.#cut(), this.#o.flushMs)
    return this.#queued < this.#o.queueMax
  }

  /**
   * Calls `go(null)` once the queue has room, after `enqueue` said it was
   * full. A plain callback kept in an array: at full speed tens of thousands
   * of QoS 0 publishes wait at once, and a promise reaction and a closure
   * each were a measurable part of the broker thread.
   */
  whenRoom(go: RoomWaiter): void {
    this.#waiting.push(go)
    if (this.#queued < this.#o.queueMax) this.#release()
  }

  /** Writes everything held in memory; with InfluxDB away, it ends up in the spool instead. */
  async flush(): Promise<void> {
    this.#cut()
    if (this.#inFlight === 0 && this.#ready.length === 0) return
    await new Promise<void>((resolve) => this.#idle.push(resolve))
  }

  /** Flushes, then ends a replay in progress; what is left stays in the spool for the next start. */
  async stop(): Promise<void> {
    await this.flush()
    this.#stopped = true
    if (this.#backlog) this.#spillMemory()
    for (const wake of this.#wakes) wake()
    await this.#replay
    await this.#resampling
    // A replay cut short by the stop: the part it wrote is not recomputed (the rest replays at the next start).
    const left = this.#late.take()
    if (left) this.#warnNotResampled(left)
  }

  #cut(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
    for (const [rp, b] of this.#filling) {
      if (size(b) === 0) continue
      this.#ready.push(b)
      this.#filling.delete(rp)
    }
    this.#pump()
  }

  #pump(): void {
    while (this.#inFlight < this.#o.concurrency && this.#ready.length > 0 && !this.#backlog) {
      const batch = this.#ready.shift() as Batch
      this.#inFlight++
      this.#noteConcurrency()
      void this.#write(batch)
    }
    this.#metrics.queueDepth.set(this.#queued)
    if (this.#inFlight === 0 && this.#ready.length === 0) {
      const idle = this.#idle
      this.#idle = []
      for (const f of idle) f()
    }
  }

  async #write(batch: Batch): Promise<void> {
    const t0 = performance.now()
    const n = size(batch)
    try {
      await this.#sink.writeLines(batch.lines.view(), batch.rp)
      this.#metrics.writeLatency.observe((performance.now() - t0) / 1000)
      this.#metrics.batchSize.observe(n)
      this.#metrics.pointsWritten.inc(n)
      this.#metrics.influxUp.set(1)
      this.#spool.markDelivered(batch.seqs, batch.spooledChars)
    } catch (err) {
      this.#metrics.writeErrors.inc()
      if (isRejection(err)) this.#drop(batch.seqs, batch.spooledChars, n, err)
      else {
        this.#metrics.influxUp.set(0)
        this.#log.warn({ err: (err as Error).message, points: n }, 'InfluxDB write failed; spooling')
        this.#spillBatch(batch)
        this.#enterBacklog()
      }
    } finally {
      this.#pool.give(batch.lines)
      this.#inFlight--
      this.#queued -= n
      this.#release()
      this.#pump()
    }
  }

  /**
   * InfluxDB refused the batch as malformed: retrying cannot help, and a
   * poison batch must not hold the spool forever. It is logged and dropped.
   */
  #drop(seqs: readonly number[], chars: number, n: number, err: unknown): void {
    this.#log.error({ err: (err as Error).message, points: n }, 'InfluxDB rejected a batch; dropped')
    this.#spool.markDelivered(seqs, chars)
  }

  /** The bench checks this stays small: more writes at once only make influxd thrash. */
  #noteConcurrency(): void {
    const now = this.#inFlight + (this.#replay ? 1 : 0)
    if (now > this.#maxInFlight) {
      this.#maxInFlight = now
      this.#metrics.writesMaxConcurrent.set(now)
    }
  }

  #spillBatch(batch: Batch): void {
    const loose = looseLines(batch)
    if (loose.length > 0) this.#spool.appendLines(batch.rp, loose)
  }

  /** Moves every point held in memory to the spool (events are there already). */
  #spillMemory(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
    const all = [...this.#ready, ...this.#filling.values()]
    this.#ready = []
    this.#filling.clear()
    for (const b of all) {
      this.#spillBatch(b)
      this.#queued -= size(b)
      this.#pool.give(b.lines)
    }
    this.#release()
  }

  #enterBacklog(): void {
    if (!this.#backlog) {
      this.#backlog = true
      this.#spillMemory()
    }
    if (!this.#replay && !this.#stopped) {
      this.#replay = this.#replayLoop().finally(() => {
        this.#replay = null
        this.#pump()
      })
    }
  }

  /** Writes the spool oldest first, one retention policy group at a time, until it is empty. */
  async #replayLoop(): Promise<void> {
    let delay = this.#o.retryMinMs
    while (!this.#stopped) {
      // Delivered rows are deleted before the read, so this is always the oldest undelivered.
      let rows: SpoolRow[]
      try {
        rows = await this.#spool.read(0, this.#o.batchSize)
      } catch (err) {
        // The spool itself failed (disk, worker): nothing to replay from; say so and stop trying.
        this.#log.error({ err: (err as Error).message }, 'spool unreadable; replay stopped')
        return
      }
      this.#metrics.spoolDepth.set(this.#spool.rows)
      this.#metrics.spoolBytes.set(this.#spool.bytes)
      if (rows.length === 0) {
        this.#backlog = false
        // Lines queued behind the replay while that read was in the worker are not in its answer and
        // not yet committed (the spool holds them back during a read): they go the direct way now,
        // or they would wait in the spool for the next outage or the next start. Once stopping, they
        // stay in the spool instead: nothing will write memory any more, and the spool survives.
        if (!this.#stopped) for (const l of this.#spool.withdrawLines()) this.enqueue(l.line, l.rp)
        this.#log.info('spool drained; back to direct writes')
        this.#resampleLate()
        return
      }
      const groups = new Map<string, SpoolRow[]>()
      for (const r of rows) {
        const g = groups.get(r.rp)
        if (g) g.push(r)
        else groups.set(r.rp, [r])
      }
      try {
        for (const [rp, group] of groups) {
          try {
            await this.#sink.writeLines(group.map((r) => r.line).join('\n'), rp)
            if (rp === '') {
              const now = Date.now()
              for (const r of group) this.#late.note(r.line, now)
            }
            this.#metrics.pointsWritten.inc(group.length)
            this.#spool.markDelivered(...seqsOf(group))
          } catch (err) {
            if (!isRejection(err)) throw err
            this.#metrics.writeErrors.inc()
            this.#drop(...seqsOf(group), group.length, err)
          }
        }
        delay = this.#o.retryMinMs
        this.#metrics.influxUp.set(1)
      } catch (err) {
        this.#metrics.writeErrors.inc()
        this.#metrics.influxUp.set(0)
        this.#log.warn({ err: (err as Error).message, retryInMs: delay }, 'InfluxDB still unavailable')
        await this.#sleep(delay)
        delay = Math.min(delay * 2, this.#o.retryMaxMs)
      }
    }
  }

  /**
   * After a replay: the heartbeats it wrote past the CQs' reach are missing from the 5-minute and
   * hourly downsamples the long charts read, so those buckets are recomputed from the raw points.
   * Retried with backoff while InfluxDB refuses, until the writer stops; a range left then is logged
   * (its raw points are all there; only the long charts show a gap over it).
   */
  #resampleLate(): void {
    if (this.#resampling || !this.#sink.resampleHeartbeats) return
    this.#resampling = this.#resampleLoop().finally(() => {
      this.#resampling = null
    })
  }

  async #resampleLoop(): Promise<void> {
    const sink = this.#sink as Required<LineSink>
    let delay = this.#o.retryMinMs
    for (let r = this.#late.take(); r !== null; r = this.#late.take()) {
      const range = {
        from: new Date(r.from).toISOString(),
        to: new Date(r.to).toISOString(),
        heartbeats: r.count,
      }
      try {
        let said = performance.now()
        if (this.#stopped) throw new Error('the gateway is stopping')
        await sink.resampleHeartbeats(r.from, r.to, (done, of) => {
          // Throwing ends the recomputation between two hours: stop() does not wait out a long one.
          if (this.#stopped) throw new Error('the gateway is stopping')
          if (performance.now() - said < 10_000) return
          said = performance.now()
          this.#log.info({ ...range, hoursDone: done, hours: of }, 'recomputing heartbeat downsamples')
        })
        this.#log.info(range, 'heartbeat downsamples recomputed over heartbeats that came late')
        delay = this.#o.retryMinMs
      } catch (err) {
        this.#late.restore(r)
        if (this.#stopped) {
          this.#warnNotResampled(r, err as Error)
          return
        }
        await this.#sleep(delay)
        delay = Math.min(delay * 2, this.#o.retryMaxMs)
      }
    }
  }

  /** A backoff pause that `stop()` can cut short (the replay's and the recomputation's may overlap). */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms)
      const wakes = this.#wakes
      function done() {
        clearTimeout(t)
        wakes.delete(done)
        resolve()
      }
      wakes.add(done)
    })
  }

  #warnNotResampled(r: LateRange, err?: Error): void {
    this.#log.warn(
      {
        from: new Date(r.from).toISOString(),
        to: new Date(r.to).toISOString(),
        heartbeats: r.count,
        ...(err ? { err: err.message } : {}),
      },
      'heartbeat downsamples not recomputed over late heartbeats; long charts show a gap there',
    )
  }

  /**
   * Releasing a waiter does not change `#queued` (its line is queued already),
   * so once there is room all go at once, in one microtask: told inline, a
   * publisher's next messages would be read and queued from inside the
   * write that just finished.
   */
  #release(): void {
    if (this.#waiting.length === 0 || this.#queued >= this.#o.queueMax) return
    const waiting = this.#waiting
    this.#waiting = []
    queueMicrotask(() => {
      for (const go of waiting) go(null)
    })
  }
}

function seqsOf(rows: readonly SpoolRow[]): [seqs: number[], chars: number] {
  let chars = 0
  for (const r of rows) chars += r.line.length
  return [rows.map((r) => r.seq), chars]
}
