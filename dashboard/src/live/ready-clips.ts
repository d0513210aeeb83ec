import type { Api, EventQuery } from '../api/endpoints.js'
import { Store } from '../lib/store.js'
import type { HeldAlert } from './alert-store.js'

/** How long after its alert an event may still get a clip: units upload when a detection ends. */
const WAIT_MS = 15 * 60_000
/** Event times are the unit's clock corrected for skew, so an event may start a little before its alert. */
const SKEW_MS = 2 * 60_000
/** The events route's largest page (EventsQuery `limit`), and how many pages one look may take. */
const PAGE = 500
const MAX_PAGES = 4

/**
 * Which events of the alert feed have a clip, and so a thumbnail to ask for.
 * An alert carries only its `eventId` and is raised when a detection starts,
 * long before the clip is uploaded: asking `/clips/:id/thumb` on the off
 * chance costs a 404 per alert (and per retry). While the socket is open the
 * gateway says it: a `clip` frame once a clip and its thumbnail are ready
 * (`markReady`). What the socket could not say (alerts replayed or backfilled
 * on connect, clips that became ready while it was closed) the events index
 * says: one `GET /api/v1/events?hasClip=true` over the time span of those
 * alerts, shortly after they arrive and again after each reconnect (`check`).
 */
export class ReadyClips {
  readonly ready = new Store<ReadonlySet<string>>(new Set())
  readonly #api: Api
  readonly #alerts: Store<readonly HeldAlert[]>
  readonly #soonMs: number
  /** Events already looked up once: only young ones are looked up again. */
  readonly #seen = new Set<string>()
  #started = false
  #soon: ReturnType<typeof setTimeout> | null = null
  #unsubscribe: (() => void) | null = null
  #inflight: AbortController | null = null

  constructor(api: Api, alerts: Store<readonly HeldAlert[]>, opts: { soonMs?: number } = {}) {
    this.#api = api
    this.#alerts = alerts
    this.#soonMs = opts.soonMs ?? 1500
  }

  start(): void {
    if (this.#started) return
    this.#started = true
    // A burst of alerts is looked up once, shortly after it settles.
    this.#unsubscribe = this.#alerts.subscribe((list) => {
      if (this.#soon || !list.some((a) => a.eventId !== undefined && !this.#seen.has(a.eventId))) return
      this.#soon = setTimeout(() => {
        this.#soon = null
        void this.check()
      }, this.#soonMs)
    })
  }

  /** The gateway said this event's clip and thumbnail are ready. */
  markReady(eventId: string): void {
    if (!this.#started || this.ready.get().has(eventId)) return
    this.#seen.add(eventId)
    this.ready.set(new Set(this.ready.get()).add(eventId))
  }

  stop(): void {
    this.#unsubscribe?.()
    this.#unsubscribe = null
    if (this.#soon) clearTimeout(this.#soon)
    this.#started = false
    this.#soon = null
    this.#inflight?.abort()
    this.#inflight = null
    this.#seen.clear()
    this.ready.set(new Set())
  }

  /** Looks up the feed's detection alerts that have no known clip yet. */
  async check(now = Date.now()): Promise<void> {
    if (this.#inflight) return
    const ready = this.ready.get()
    const pending = this.#alerts
      .get()
      .filter(
        (a): a is HeldAlert & { eventId: string } =>
          a.eventId !== undefined &&
          !ready.has(a.eventId) &&
          (!this.#seen.has(a.eventId) || now - a.at < WAIT_MS),
      )
    if (pending.length === 0) return
    const ctl = new AbortController()
    this.#inflight = ctl
    const wanted = new Set(pending.map((a) => a.eventId))
    const districts = new Set(pending.map((a) => a.district))
    const query: EventQuery = {
      hasClip: true,
      from: Math.min(...pending.map((a) => a.at)) - SKEW_MS,
      to: now + SKEW_MS,
      limit: PAGE,
      ...(districts.size === 1 ? { district: pending[0]?.district } : {}),
    }
    const found: string[] = []
    try {
      let cursor: string | undefined
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await this.#api.events({ ...query, ...(cursor ? { cursor } : {}) }, ctl.signal)
        for (const e of res.events) if (e.clip.thumbUrl !== null && wanted.has(e.id)) found.push(e.id)
        if (!res.nextCursor || found.length === wanted.size) break
        cursor = res.nextCursor
      }
    } catch {
      // No events route, no access or a network failure: the feed keeps its glyphs and looks again later.
      return
    } finally {
      if (this.#inflight === ctl) this.#inflight = null
    }
    if (ctl.signal.aborted) return
    for (const id of wanted) this.#seen.add(id)
    // Only what the feed still holds is kept: the buffer is bounded, so these sets are too.
    const held = new Set(this.#alerts.get().flatMap((a) => (a.eventId ? [a.eventId] : [])))
    for (const id of this.#seen) if (!held.has(id)) this.#seen.delete(id)
    const next = new Set([...this.ready.get()].filter((id) => held.has(id)))
    for (const id of found) next.add(id)
    if (next.size !== this.ready.get().size || found.length > 0) this.ready.set(next)
  }
}
