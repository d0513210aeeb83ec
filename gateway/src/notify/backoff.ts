/** The longest wait between two tries, whatever the base and the try. */
export const MAX_BACKOFF_MS = 10 * 60_000

/**
 * The wait before try `attempt + 1` after `attempt` failed (1-based): exponential from `baseMs`, half
 * of it fixed and half drawn at random ("equal jitter"), so that senders whose receiver came back do
 * not all try again at the same instant, and no wait is much shorter than its step.
 */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const step = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1))
  return Math.max(1, Math.round(step / 2 + random() * (step / 2)))
}
