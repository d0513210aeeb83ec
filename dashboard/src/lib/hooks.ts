import type { Inputs } from 'preact/hooks'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { isAbort } from '../api/http.js'

/** The current time, ticking every `intervalMs`, for "5 min ago" labels. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs)
    return () => clearInterval(t)
  }, [intervalMs])
  return now
}

export interface AsyncState<T> {
  data: T | null
  error: unknown
  loading: boolean
  /** Fetch again now (keeps showing the current data meanwhile). */
  reload: () => void
  /** When the shown data was fetched. */
  at: number | null
}

/**
 * Runs `load` when `deps` change, every `refreshMs` if given (not while the tab
 * is hidden), and on reload(). A request still running is aborted by the next
 * one, so a slow answer never overwrites a newer one.
 */
export function useAsync<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: Inputs,
  opts: { refreshMs?: number } = {},
): AsyncState<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean; at: number | null }>(
    {
      data: null,
      error: null,
      loading: true,
      at: null,
    },
  )
  const ctl = useRef<AbortController | null>(null)
  const loadRef = useRef(load)
  loadRef.current = load

  const run = useCallback(() => {
    ctl.current?.abort()
    const c = new AbortController()
    ctl.current = c
    setState((s) => ({ ...s, loading: true }))
    loadRef.current(c.signal).then(
      (data) => {
        if (ctl.current === c) setState({ data, error: null, loading: false, at: Date.now() })
      },
      (error: unknown) => {
        if (isAbort(error) || ctl.current !== c) return
        setState((s) => ({ ...s, error, loading: false }))
      },
    )
  }, [])

  useEffect(() => {
    // New inputs: what was shown belongs to the old ones.
    setState({ data: null, error: null, loading: true, at: null })
    run()
    return () => ctl.current?.abort()
    // Deliberate deps: callers pass the inputs `load` depends on
  }, deps)

  useEffect(() => {
    if (!opts.refreshMs) return
    const t = setInterval(() => {
      if (document.visibilityState !== 'hidden') run()
    }, opts.refreshMs)
    return () => clearInterval(t)
  }, [opts.refreshMs, run])

  return { ...state, reload: run }
}

/** Whether a CSS media query matches, following changes (a phone turned, a window resized). */
export function useMediaQuery(query: string): boolean {
  const [matches, setMatches] = useState(() => window.matchMedia(query).matches)
  useEffect(() => {
    const mql = window.matchMedia(query)
    const on = () => setMatches(mql.matches)
    on()
    mql.addEventListener('change', on)
    return () => mql.removeEventListener('change', on)
  }, [query])
  return matches
}
