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

  tryAdmit(now = Date.now()): boolean {
    const elapsed = Math.max(0, now - this.#last)
    this.#last = now
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000)
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
