import type { HealthResponse } from '@doorstep/proto'
import type { Api } from '../api/endpoints.js'
import { isAbort } from '../api/http.js'
import { Store } from '../lib/store.js'

export interface HealthState {
  data: HealthResponse | null
  /**
   * The last refresh failed with this error; `data` is then the last good answer. Kept as the error, not
   * its words, so the view says it in the reader's language.
   */
  error: unknown
  loading: boolean
}

/**
 * Fleet health, refreshed every `intervalMs` while the page is visible, and
 * by whoever calls refresh() (the session does, when the fleet revision moves).
 */
export class FleetHealth {
  readonly store = new Store<HealthState>({ data: null, error: null, loading: false })
  readonly #api: Api
  readonly #intervalMs: number
  #timer: ReturnType<typeof setInterval> | null = null
  #inflight: AbortController | null = null
  #onVisible = () => {
    if (document.visibilityState === 'visible') this.refresh()
  }

  constructor(api: Api, opts: { intervalMs?: number } = {}) {
    this.#api = api
    this.#intervalMs = opts.intervalMs ?? 5000
  }

  start(): void {
    if (this.#timer) return
    this.refresh()
    this.#timer = setInterval(() => {
      if (document.visibilityState !== 'hidden') this.refresh()
    }, this.#intervalMs)
    document.addEventListener('visibilitychange', this.#onVisible)
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.#inflight?.abort()
    document.removeEventListener('visibilitychange', this.#onVisible)
    this.store.set({ data: null, error: null, loading: false })
  }

  refresh(): void {
    // A newer request replaces an older one still running.
    this.#inflight?.abort()
    const ctl = new AbortController()
    this.#inflight = ctl
    this.store.update((s) => ({ ...s, loading: true }))
    this.#api.health(ctl.signal).then(
      (data) => {
        if (this.#inflight === ctl) this.store.set({ data, error: null, loading: false })
      },
      (err: unknown) => {
        if (isAbort(err) || this.#inflight !== ctl) return
        this.store.update((s) => ({ ...s, error: err, loading: false }))
      },
    )
  }
}
