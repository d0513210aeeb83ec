/**
 * Reconnect delays. After a power cut thousands of units come back in the
 * same second and the gateway admits them at a fixed rate (CONNACK 3 for the
 * rest). Exponential backoff with *full* jitter — a uniform draw in
 * [0, min(cap, base·2^attempt)] — spreads the retries evenly instead of
 * sending them back in synchronized waves (see "Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015).
 */
export interface BackoffPolicy {
  /** Upper bound of the first retry's delay, ms. */
  baseMs: number
  /** No delay is ever longer than this, ms. */
  capMs: number
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 500, capMs: 30_000 })

/** The ceiling for a given attempt (0-based): min(cap, base·2^attempt). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  // 2^30 already dwarfs any sane cap; clamping keeps the product finite.
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 30)
  return Math.min(policy.capMs, policy.baseMs * 2 ** exp)
}

/** A delay for the given attempt: uniform in [0, ceiling]. `random` returns [0, 1). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * (backoffCeiling(attempt, policy) + 1))
}
