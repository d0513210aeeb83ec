/**
 * Passes on progress updates of many things (pulls uploading) without flooding live sockets: a change
 * that matters (`urgent`: a new state) goes at once; a change of bytes only goes at most once per
 * `intervalMs` per key, the latest one, at the end of the interval. Bounded: at most `maxKeys` keys
 * are tracked (the oldest is forgotten, its pending update sent), and a key is forgotten once final.
 */
export class ProgressThrottle<T> {
  readonly #intervalMs: number
  readonly #maxKeys: number
  readonly #send: (v: T) => void
  readonly #urgent: (prev: T, next: T) => boolean
  readonly #final: (v: T) => boolean
  readonly #keys = new Map<
    string,
    { last: T; sentAt: number; pending: T | null; timer: NodeJS.Timeout | null }
  >()

  constructor(opts: {
    intervalMs: number
    maxKeys: number
    send: (v: T) => void
    urgent: (prev: T, next: T) => boolean
    final: (v: T) => boolean
  }) {
    this.#intervalMs = opts.intervalMs
    this.#maxKeys = opts.maxKeys
    this.#send = opts.send
    this.#urgent = opts.urgent
    this.#final = opts.final
  }

  get size(): number {
    return this.#keys.size
  }

  push(key: string, v: T, now: number = Date.now()): void {
    const k = this.#keys.get(key)
    if (!k || this.#urgent(k.last, v) || now - k.sentAt >= this.#intervalMs) {
      if (k?.timer) clearTimeout(k.timer)
      this.#sendNow(key, v, now)
      return
    }
    k.pending = v
    if (k.timer) return
    k.timer = setTimeout(
      () => {
        k.timer = null
        const p = k.pending
        if (p !== null && this.#keys.get(key) === k) this.#sendNow(key, p, Date.now())
      },
      this.#intervalMs - (now - k.sentAt),
    )
    k.timer.unref?.()
  }

  #sendNow(key: string, v: T, now: number): void {
    this.#keys.delete(key)
    this.#send(v)
    if (this.#final(v)) return
    this.#keys.set(key, { last: v, sentAt: now, pending: null, timer: null })
    while (this.#keys.size > this.#maxKeys) {
      const [oldKey, old] = this.#keys.entries().next().value as [
        string,
        { pending: T | null; timer: NodeJS.Timeout | null },
      ]
      this.#keys.delete(oldKey)
      if (old.timer) clearTimeout(old.timer)
      if (old.pending !== null) this.#send(old.pending)
    }
  }

  /** Forgets everything, pending updates too (the gateway is stopping). */
  clear(): void {
    for (const k of this.#keys.values()) {
      if (k.timer) clearTimeout(k.timer)
    }
    this.#keys.clear()
  }
}
