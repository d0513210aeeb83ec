/**
 * One timer heap for the whole fleet. Thousands of units each want a
 * heartbeat, an event timer and a reconnect timer; a Node timer per unit per
 * job costs memory and makes shutdown a hunt. Instead every job goes into one
 * binary min-heap ordered by (due time, insertion order), driven by a single
 * setTimeout armed for the earliest entry.
 *
 * Work per tick is bounded (`maxPerTick`): when more is due, the rest runs on
 * the next turn of the event loop (setImmediate), so socket I/O is never
 * starved by a burst such as every unit's heartbeat falling due together.
 */

export interface Task {
  /** Due time, ms on the scheduler's clock. */
  readonly at: number
  /** @internal heap tie-breaker: equal due times run in scheduling order. */
  readonly seq: number
  /** Null once cancelled or run. */
  fn: (() => void) | null
}

export interface SchedulerOptions {
  /** Most tasks run per event-loop turn. */
  maxPerTick?: number
  /** Clock, ms. Injected by tests that drive time by hand. */
  now?: () => number
  /** Called with whatever a task throws; one bad task must not stop the fleet. */
  onError?: (err: unknown) => void
}

/** Longest delay Node accepts for setTimeout (2^31 - 1 ms); later tasks re-arm. */
const MAX_TIMER_MS = 2_147_483_647

export class Scheduler {
  readonly #heap: Task[] = []
  readonly #maxPerTick: number
  readonly #now: () => number
  readonly #onError: (err: unknown) => void
  #seq = 0
  #cancelled = 0
  #timer: NodeJS.Timeout | null = null
  #timerAt = Number.POSITIVE_INFINITY
  #immediate: NodeJS.Immediate | null = null
  #running = false
  /** True while tasks run: they schedule more, and re-arming per call would churn timers. */
  #inTick = false

  constructor(opts: SchedulerOptions = {}) {
    this.#maxPerTick = Math.max(1, opts.maxPerTick ?? 500)
    this.#now = opts.now ?? Date.now
    this.#onError = opts.onError ?? ((err) => console.error('device-sim: a scheduled task failed:', err))
  }

  now(): number {
    return this.#now()
  }

  /** Live (not cancelled) tasks waiting. */
  get size(): number {
    return this.#heap.length - this.#cancelled
  }

  /** Starts driving tasks from real timers. Tests may call `runDue` by hand instead. */
  start(): void {
    this.#running = true
    this.#arm()
  }

  /** Stops the timers and forgets every task. */
  stop(): void {
    this.#running = false
    this.#disarm()
    for (const t of this.#heap) t.fn = null
    this.#heap.length = 0
    this.#cancelled = 0
  }

  schedule(at: number, fn: () => void): Task {
    const task: Task = { at, seq: this.#seq++, fn }
    this.#push(task)
    if (this.#running && !this.#inTick && at < this.#timerAt) this.#arm()
    return task
  }

  after(delayMs: number, fn: () => void): Task {
    return this.schedule(this.#now() + Math.max(0, delayMs), fn)
  }

  /** Returns false when the task had already run or been cancelled. */
  cancel(task: Task | null | undefined): boolean {
    if (!task || task.fn === null) return false
    task.fn = null
    // Lazy deletion: the entry stays in the heap until it surfaces, unless too many pile up.
    this.#cancelled++
    if (this.#cancelled > 1024 && this.#cancelled > this.#heap.length / 2) this.#compact()
    return true
  }

  /** Runs up to `maxPerTick` due tasks; returns how many ran. */
  runDue(now = this.#now()): number {
    let ran = 0
    while (ran < this.#maxPerTick) {
      const top = this.#heap[0]
      if (top === undefined || top.at > now) break
      this.#pop()
      const fn = top.fn
      if (fn === null) {
        this.#cancelled--
        continue
      }
      top.fn = null
      ran++
      try {
        fn()
      } catch (err) {
        this.#onError(err)
      }
    }
    return ran
  }

  #tick = (): void => {
    this.#timer = null
    this.#immediate = null
    this.#timerAt = Number.POSITIVE_INFINITY
    if (!this.#running) return
    this.#inTick = true
    try {
      this.runDue()
    } finally {
      this.#inTick = false
    }
    this.#arm()
  }

  #arm(): void {
    if (!this.#running) return
    this.#disarm()
    this.#dropCancelledTop()
    const top = this.#heap[0]
    if (top === undefined) return
    const delay = top.at - this.#now()
    if (delay <= 0) {
      // More is due now: yield to I/O first, then continue.
      this.#immediate = setImmediate(this.#tick)
      this.#timerAt = top.at
      return
    }
    this.#timerAt = top.at
    this.#timer = setTimeout(this.#tick, Math.min(delay, MAX_TIMER_MS))
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#immediate) clearImmediate(this.#immediate)
    this.#timer = null
    this.#immediate = null
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  #dropCancelledTop(): void {
    while (this.#heap[0] !== undefined && this.#heap[0].fn === null) {
      this.#pop()
      this.#cancelled--
    }
  }

  #compact(): void {
    const live = this.#heap.filter((t) => t.fn !== null)
    this.#heap.length = 0
    this.#cancelled = 0
    for (const t of live) this.#push(t)
  }

  static #less(a: Task, b: Task): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  #push(task: Task): void {
    const h = this.#heap
    h.push(task)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p] as Task
      if (!Scheduler.#less(task, parent)) break
      h[i] = parent
      i = p
    }
    h[i] = task
  }

  #pop(): Task | undefined {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    let i = 0
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && Scheduler.#less(h[r] as Task, h[l] as Task) ? r : l
      if (!Scheduler.#less(h[c] as Task, last)) break
      h[i] = h[c] as Task
      i = c
    }
    h[i] = last
    return top
  }
}
