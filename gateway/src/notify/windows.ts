interface Window<T> {
  count: number
  last: T | null
  timer: NodeJS.Timeout
}

/**
 * Repeat windows, one per rule and subject (a unit, a campaign): the first notification goes out and
 * opens a window; repeats inside it are only counted; when it closes with repeats, `onClose` hears
 * their count and the last one (to send one summary, which opens the next window). Bounded like the
 * offline timers: past `max` open windows, `open` says no and the caller sends without one.
 */
export class RepeatWindows<T> {
  readonly #max: number
  readonly #open = new Map<string, Window<T>>()
  readonly #onClose: (key: string, count: number, last: T) => void

  constructor(max: number, onClose: (key: string, count: number, last: T) => void) {
    this.#max = max
    this.#onClose = onClose
  }

  get size(): number {
    return this.#open.size
  }

  /** True when a window is open for `key`: the repeat is counted into it. */
  absorb(key: string, item: T): boolean {
    const w = this.#open.get(key)
    if (!w) return false
    w.count++
    w.last = item
    return true
  }

  /** Opens a window for `key`; false when the bound is reached. */
  open(key: string, ms: number): boolean {
    if (this.#open.size >= this.#max) return false
    const timer = setTimeout(() => this.#close(key), ms)
    timer.unref()
    this.#open.set(key, { count: 0, last: null, timer })
    return true
  }

  /** Drops every window whose key starts with `prefix` (a deleted rule's), without summaries. */
  dropPrefix(prefix: string): void {
    for (const [key, w] of this.#open) {
      if (!key.startsWith(prefix)) continue
      clearTimeout(w.timer)
      this.#open.delete(key)
    }
  }

  clear(): void {
    for (const w of this.#open.values()) clearTimeout(w.timer)
    this.#open.clear()
  }

  #close(key: string): void {
    const w = this.#open.get(key)
    this.#open.delete(key)
    if (w && w.count > 0 && w.last !== null) this.#onClose(key, w.count, w.last)
  }
}
