/**
 * A token bucket for new connections. After a gateway restart or a power cut
 * every unit reconnects at once; admitting them at a steady rate (the rest get
 * CONNACK "server unavailable" and retry with backoff) keeps CPU and memory flat
 * and lets the whole fleet settle within seconds.
 */
export class AdmissionGate {
  readonly #rate: number
  readonly #burst: number
  #tokens: number
  #last: number

  constructor(ratePerSecond: number, burst = ratePerSecond, now = Date.now()) {
    this.#rate = ratePerSecond
    this.#burst = Math.max(1, burst)
    this.#tokens = this.#burst
    this.#last = now
  }

  /** True when the bucket has refilled: forgetting it changes nothing. */
  isFull(now = Date.now()): boolean {
    return this.#tokens + (Math.max(0, now - this.#last) * this.#rate) / 1000 >= this.#burst
  }

  tryAdmit(now = Date.now()): boolean {
    const elapsed = Math.max(0, now - this.#last)
    this.#last = now
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000)
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}

/**
 * One admission bucket per source address, so a single address (a broken
 * unit in a loop, or someone flooding the port) spends its own budget and
 * not the fleet's. Generous by default: many units may share one address
 * behind a carrier-grade NAT. The map is bounded; when it is full, buckets
 * that have refilled (and so carry no state worth keeping) are dropped first.
 */
export class AddressGates {
  readonly #rate: number
  readonly #max: number
  readonly #gates = new Map<string, AdmissionGate>()

  constructor(ratePerSecond: number, maxAddresses = 50_000) {
    this.#rate = ratePerSecond
    this.#max = maxAddresses
  }

  get size(): number {
    return this.#gates.size
  }

  tryAdmit(address: string, now = Date.now()): boolean {
    let gate = this.#gates.get(address)
    if (!gate) {
      if (this.#gates.size >= this.#max) this.#evict(now)
      gate = new AdmissionGate(this.#rate, this.#rate, now)
      this.#gates.set(address, gate)
    }
    return gate.tryAdmit(now)
  }

  #evict(now: number): void {
    for (const [address, gate] of this.#gates) {
      if (gate.isFull(now)) this.#gates.delete(address)
    }
    // Everyone is mid-burst: drop the oldest entries (Map keeps insertion order), a slice more than
    // needed, so a spray of new addresses pays for this scan once per slice, not once per address.
    const keep = this.#max - evictionSlice(this.#max)
    for (const address of this.#gates.keys()) {
      if (this.#gates.size <= keep) break
      this.#gates.delete(address)
    }
  }
}

/**
 * Backs off a unit id that keeps failing its secret check, per source address:
 * after `freeFailures` in a row, each failure doubles the wait (from `baseMs`
 * up to `maxMs`) before that id is checked again from that address, so wrong
 * secrets cannot keep scrypt (and the shared budget of checks) busy, and a
 * flood from one address does not lock the real unit out from its own. The
 * free failures let a unit that tried an old secret once (after a rotation)
 * connect with the new one at once. A success forgets the failures.
 */
export class AuthBackoff {
  readonly #baseMs: number
  readonly #maxMs: number
  readonly #free: number
  readonly #max: number
  readonly #entries = new Map<string, { fails: number; until: number }>()

  constructor(opts: { baseMs?: number; maxMs?: number; freeFailures?: number; maxEntries?: number } = {}) {
    this.#baseMs = opts.baseMs ?? 1000
    this.#maxMs = opts.maxMs ?? 300_000
    this.#free = opts.freeFailures ?? 2
    this.#max = opts.maxEntries ?? 50_000
  }

  get size(): number {
    return this.#entries.size
  }

  /** Milliseconds until `id` may be checked again from `address`; 0 when it may now. */
  waitMs(id: string, address: string, now = Date.now()): number {
    const e = this.#entries.get(`${address}|${id}`)
    return e ? Math.max(0, e.until - now) : 0
  }

  failed(id: string, address: string, now = Date.now()): void {
    const key = `${address}|${id}`
    const e = this.#entries.get(key)
    const fails = (e?.fails ?? 0) + 1
    if (!e && this.#entries.size >= this.#max) this.#evict(now)
    this.#entries.delete(key)
    const over = fails - this.#free
    const until = over <= 0 ? now : now + Math.min(this.#maxMs, this.#baseMs * 2 ** (over - 1))
    this.#entries.set(key, { fails, until })
  }

  succeeded(id: string, address: string): void {
    this.#entries.delete(`${address}|${id}`)
  }

  #evict(now: number): void {
    for (const [key, e] of this.#entries) if (e.until <= now) this.#entries.delete(key)
    const keep = this.#max - evictionSlice(this.#max)
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= keep) break
      this.#entries.delete(key)
    }
  }
}

/**
 * How many entries a full map sheds at once (1/64 of its bound, at least one): evicting only down to
 * the bound made every newcomer of a spray scan the whole map, 50,000 entries per connect attempt.
 */
export function evictionSlice(max: number): number {
  return Math.max(1, Math.floor(max / 64))
}
