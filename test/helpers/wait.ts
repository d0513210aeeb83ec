/**
 * Polls `fn` until it returns a value that is not undefined/false, or fails
 * after `timeoutMs` with the last error it threw. For a positive condition
 * only: to show that something did NOT happen, wait for a later signal that
 * proves the system got that far, then assert the absence once.
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v as T
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * What `promise` resolves to, or a failure after `timeoutMs` naming `what`: for something that
 * must happen soon (a socket closing, a request being cut), without hanging the test when it does not.
 */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | null = null
  promise.then(
    (value) => {
      outcome = { ok: true, value }
    },
    (error: unknown) => {
      outcome = { ok: false, error }
    },
  )
  const o = await until(what, () => outcome ?? false, timeoutMs)
  if (!o.ok) throw o.error
  return o.value
}
