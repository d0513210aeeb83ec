/** Longest error text kept on a notification's record. */
const MAX_REASON = 300

/**
 * An error as it may go on record or in a log: every secret it might echo (a receiver that reflects
 * the request, a library that quotes its options) replaced, and cut to a readable length.
 */
export function scrub(err: unknown, secrets: ReadonlyArray<string | null | undefined>): string {
  let text = err instanceof Error ? err.message : String(err)
  for (const s of secrets) if (s && s.length >= 4) text = text.split(s).join('[redacted]')
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text
}
