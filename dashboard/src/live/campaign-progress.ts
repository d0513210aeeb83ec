import type { ServerFrame } from '@doorstep/proto'
import { Store } from '../lib/store.js'

export type CampaignFrame = Extract<ServerFrame, { type: 'campaign' }>
export type UnitFrame = NonNullable<CampaignFrame['unit']>

/** Campaigns whose units are followed at once; the oldest followed is forgotten first. */
const MAX_CAMPAIGNS = 8
/** Unit frames are gathered this long before pages are told: a wave of 2,896 units costs a few renders. */
const BATCH_MS = 100

/**
 * How firmware campaigns stand, as the alert socket tells it. A campaign page shows its units' states
 * and bytes from here over what it fetched. Frames are hints, never replayed: after a reconnect pages
 * fetch again (`reconnects` changes) and the frames held until then are dropped, as they may be stale.
 *
 * The latest frame of each unit is kept in a plain map and `revision` is bumped at most every
 * `BATCH_MS`: copying a map of thousands of units on every frame would cost more than the page.
 */
export class CampaignProgress {
  /** Bumped when a campaign changes state (started, paused, resumed, cancelled, done). */
  readonly changes = new Store<number>(0)
  /** Bumped when unit frames arrived (batched). */
  readonly revision = new Store<number>(0)
  /** Bumped when the socket (re)connects: pages fetch their campaign again. */
  readonly reconnects = new Store<number>(0)
  readonly #units = new Map<string, Map<string, UnitFrame>>()
  readonly #changesOf = new Map<string, number>()
  #timer: ReturnType<typeof setTimeout> | null = null

  apply(f: CampaignFrame): void {
    if (f.unit === null) {
      this.#changesOf.set(f.campaignId, (this.#changesOf.get(f.campaignId) ?? 0) + 1)
      this.changes.update((n) => n + 1)
      return
    }
    let units = this.#units.get(f.campaignId)
    if (units) this.#units.delete(f.campaignId)
    else units = new Map()
    // Re-inserted: the map's order is the order campaigns were last heard of.
    this.#units.set(f.campaignId, units)
    if (this.#units.size > MAX_CAMPAIGNS) {
      const oldest = this.#units.keys().next().value
      if (oldest !== undefined) this.#units.delete(oldest)
    }
    units.set(f.unit.deviceId, f.unit)
    this.#timer ??= setTimeout(() => this.#flush(), BATCH_MS)
  }

  /** The latest frame of each unit of a campaign heard since the last (re)connect. */
  unitsOf(campaignId: string): ReadonlyMap<string, UnitFrame> {
    return this.#units.get(campaignId) ?? EMPTY
  }

  /** How often one campaign changed state since sign-in: a page fetches its campaign again when it moves. */
  changesOf(campaignId: string): number {
    return this.#changesOf.get(campaignId) ?? 0
  }

  reconnected(): void {
    this.#units.clear()
    this.reconnects.update((n) => n + 1)
  }

  clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#units.clear()
    this.#changesOf.clear()
  }

  #flush(): void {
    this.#timer = null
    this.revision.update((n) => n + 1)
  }
}

const EMPTY: ReadonlyMap<string, UnitFrame> = new Map()
