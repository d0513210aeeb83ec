/** Who a token digest resolved to, and when that answer last came from the database. */
interface Entry<P> {
  principal: P
  at: number
}

/** Digests remembered at most; the least recently confirmed goes first. */
export const RECENT_PRINCIPALS_MAX = 1000
/** How long after its last confirmation an answer may stand in for the database. */
export const RECENT_PRINCIPALS_STALE_MS = 15 * 60_000

/**
 * The last answer the shared database gave for each token recently used, so that people already at
 * work (and Prometheus) are still let in while PostgreSQL is away: without it every request would be
 * refused 503 until the database is back, the metrics that say it is away among them. An answer is only
 * used when the database cannot be asked, and only for `staleMs` after it was last confirmed; a token
 * the database refused is forgotten, never remembered. A token revoked during the outage cannot have
 * been revoked (revoking needs the database); one revoked just before it, on another gateway, may work
 * here until the outage ends or `staleMs` has passed. Bounded: the least recently confirmed goes first.
 */
export class RecentPrincipals<P> {
  readonly #entries = new Map<string, Entry<P>>()
  readonly #max: number
  readonly #staleMs: number

  constructor(opts: { max?: number; staleMs?: number } = {}) {
    this.#max = opts.max ?? RECENT_PRINCIPALS_MAX
    this.#staleMs = opts.staleMs ?? RECENT_PRINCIPALS_STALE_MS
  }

  get size(): number {
    return this.#entries.size
  }

  /** The database's answer for `digest` just now: remembered, or forgotten when it was "nobody". */
  confirmed(digest: string, principal: P | null, now: number): void {
    this.#entries.delete(digest)
    if (principal === null) return
    this.#entries.set(digest, { principal, at: now })
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  /** The last answer for `digest` if it is recent enough to stand in for the database, else null. */
  recall(digest: string, now: number): P | null {
    const e = this.#entries.get(digest)
    if (!e) return null
    if (now - e.at > this.#staleMs) {
      this.#entries.delete(digest)
      return null
    }
    return e.principal
  }
}
