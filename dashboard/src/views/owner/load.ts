import { useCallback, useEffect, useState } from 'preact/hooks'
import { isAbort } from '../../api/http.js'

export type Loaded<T> = { kind: 'loading' } | { kind: 'ok'; data: T } | { kind: 'error'; error: unknown }

/**
 * One request a page depends on: loading, its answer or its error, and a reload. A page that is left
 * (or reloads) aborts the request in flight, so a late answer never lands on the wrong page.
 */
export function useLoad<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
): [Loaded<T>, () => void] {
  const [state, setState] = useState<Loaded<T>>({ kind: 'loading' })
  const [round, setRound] = useState(0)
  useEffect(() => {
    const ctl = new AbortController()
    load(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ kind: 'ok', data })
      },
      (error: unknown) => {
        if (!ctl.signal.aborted && !isAbort(error)) setState({ kind: 'error', error })
      },
    )
    return () => ctl.abort()
  }, [...deps, round])
  const reload = useCallback(() => setRound((r) => r + 1), [])
  return [state, reload]
}
