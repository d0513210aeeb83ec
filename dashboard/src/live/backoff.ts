export interface BackoffOptions {
  /** First delay, ms. */
  baseMs: number
  /** Longest delay, ms. */
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000 }

/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from `baseMs`
 * up to `maxMs`, with the upper half jittered. Jitter matters here: when a
 * gateway restarts, every ops screen in the city reconnects, and without it
 * they would all arrive in the same millisecond.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random = Math.random,
): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
