import { DoorstepError } from '../errors.js'

interface Pending {
  job: () => Promise<unknown>
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
}

/**
 * A bounded worker queue for media work (ffprobe, ffmpeg, sharp). At most
 * `concurrency` jobs run at once and at most `maxQueued` wait; past that,
 * `run()` refuses at once with DOORSTEP_ERR_MEDIA_BUSY instead of letting a
 * burst of uploads pile up child processes and memory. Jobs run in arrival
 * order. Nothing here touches the MQTT ingest path: that is the point.
 */
export class WorkQueue {
  readonly #concurrency: number
  readonly #maxQueued: number
  readonly #waiting: Pending[] = []
  readonly #idle = new Set<() => void>()
  #running = 0
  #closed = false

  constructor(opts: { concurrency: number; maxQueued: number }) {
    if (opts.concurrency < 1 || opts.maxQueued < 0) throw new Error('WorkQueue: bad bounds')
    this.#concurrency = opts.concurrency
    this.#maxQueued = opts.maxQueued
  }

  get running(): number {
    return this.#running
  }

  get queued(): number {
    return this.#waiting.length
  }

  /** Whether `run()` would take a job now. */
  get hasRoom(): boolean {
    return !this.#closed && (this.#running < this.#concurrency || this.#waiting.length < this.#maxQueued)
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN'))
    if (!this.hasRoom) return Promise.reject(new DoorstepError('DOORSTEP_ERR_MEDIA_BUSY'))
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ job, resolve: resolve as (v: unknown) => void, reject })
      this.#pump()
    })
  }

  /** Refuses new jobs, drops the waiting ones (rejected) and resolves once the running ones end. */
  async close(): Promise<void> {
    this.#closed = true
    for (const p of this.#waiting.splice(0)) p.reject(new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN'))
    if (this.#running === 0) return
    await new Promise<void>((resolve) => this.#idle.add(resolve))
  }

  /** Resolves when nothing runs or waits (tests use it to let thumbnails finish). */
  async drain(): Promise<void> {
    if (this.#running === 0 && this.#waiting.length === 0) return
    await new Promise<void>((resolve) => this.#idle.add(resolve))
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#waiting.length > 0) {
      const p = this.#waiting.shift() as Pending
      this.#running++
      let result: Promise<unknown>
      try {
        result = p.job()
      } catch (err) {
        result = Promise.reject(err)
      }
      result.then(p.resolve, p.reject).finally(() => {
        this.#running--
        this.#pump()
        if (this.#running === 0 && this.#waiting.length === 0) {
          for (const done of this.#idle) done()
          this.#idle.clear()
        }
      })
    }
  }
}
