import { randomUUID } from 'node:crypto'
import type { Alert, ServerFrame } from '@doorstep/proto'
import type { Metrics } from '../metrics.js'

/** A clip that became ready: sent to live sockets as a `clip` frame, not numbered, not held. */
export interface ReadyClip {
  eventId: string
  deviceId: string
  district: number
}

/** Case and pull progress for investigators' live pages: not numbered, not held. */
export type CaseFrame = Extract<ServerFrame, { type: 'pull' | 'case' }>

/** Firmware campaign progress for admins' and ops' live pages: not numbered, not held. */
export type CampaignFrame = Extract<ServerFrame, { type: 'campaign' }>

/** Alerts held for sockets that resume. */
export const ALERT_RING = 10_000

export type AlertDraft = Omit<Alert, 'id' | 'at' | 'count'> & { count?: number; at?: number }

/**
 * Numbers alerts, keeps the newest `capacity` in a ring for clients that
 * reconnect, and tells subscribers. Subscribers are called synchronously and
 * must only queue: the hub is reached from the ingest path.
 */
export class AlertHub {
  readonly #ring: Array<Alert | undefined>
  readonly #metrics: Metrics
  #lastId = 0
  /**
   * Alert ids restart at 1 with each gateway process; clients tell restarts apart by this. Gateways
   * sharing Redis number alerts across the cluster and share one boot id (`relayTo`).
   */
  #bootId: string = randomUUID()
  /** Set when gateways share Redis: alerts are numbered and delivered by the cluster (redis-alert-relay.ts). */
  #relay: ((a: Alert) => void) | null = null
  readonly #subscribers = new Set<(a: Alert) => void>()
  readonly #clipSubscribers = new Set<(c: ReadyClip) => void>()
  readonly #caseSubscribers = new Set<(f: CaseFrame) => void>()
  readonly #campaignSubscribers = new Set<(f: CampaignFrame) => void>()

  constructor(metrics: Metrics, capacity = ALERT_RING) {
    this.#ring = new Array(capacity)
    this.#metrics = metrics
  }

  get lastId(): number {
    return this.#lastId
  }

  get bootId(): string {
    return this.#bootId
  }

  /**
   * Hands every alert raised here to `relay` instead of numbering it, and takes the ids' boot id from
   * the cluster; the relay gives alerts back numbered, from every node, through `accept`. Null: alone
   * again, numbering its own (from where the cluster's ids left off).
   */
  relayTo(relay: ((a: Alert) => void) | null, bootId?: string): void {
    this.#relay = relay
    if (bootId !== undefined) this.#bootId = bootId
  }

  /**
   * Raises an alert. Alone, the hub numbers and delivers it at once; relayed, it goes to the cluster
   * with id 0 and is delivered when it comes back numbered (the returned alert then has id 0).
   */
  raise(draft: AlertDraft): Alert {
    // Built field by field in one order, optional fields last: a spread of the draft gave every alert a
    // hidden class of its own (a map and descriptor array, about 0.4 KiB each, 10,000 in a full ring).
    const relay = this.#relay
    const alert: Alert = {
      id: relay ? 0 : this.#lastId + 1,
      at: draft.at ?? Date.now(),
      kind: draft.kind,
      severity: draft.severity,
      deviceId: draft.deviceId,
      district: draft.district,
      count: draft.count ?? 1,
      message: draft.message,
    }
    if (draft.eventId !== undefined) alert.eventId = draft.eventId
    if (draft.foldedMs !== undefined) alert.foldedMs = draft.foldedMs
    // Counted where it was raised: summed over the nodes, each alert once.
    this.#metrics.alertsSent.inc({ kind: alert.kind })
    if (relay) relay(alert)
    else this.accept(alert)
    return alert
  }

  /** A numbered alert, this hub's own or the cluster's: held in the ring and delivered; ids only go up. */
  accept(alert: Alert): void {
    if (alert.id <= this.#lastId) return
    this.#lastId = alert.id
    this.#ring[alert.id % this.#ring.length] = alert
    for (const s of this.#subscribers) s(alert)
  }

  subscribe(fn: (a: Alert) => void): () => void {
    this.#subscribers.add(fn)
    return () => this.#subscribers.delete(fn)
  }

  /** Tells live sockets a clip is ready; nothing is kept for sockets that open later. */
  clipReady(clip: ReadyClip): void {
    for (const s of this.#clipSubscribers) s(clip)
  }

  subscribeClips(fn: (c: ReadyClip) => void): () => void {
    this.#clipSubscribers.add(fn)
    return () => this.#clipSubscribers.delete(fn)
  }

  /** Tells live sockets of investigators and admins how a case or pull stands now. */
  caseChanged(frame: CaseFrame): void {
    for (const s of this.#caseSubscribers) s(frame)
  }

  subscribeCases(fn: (f: CaseFrame) => void): () => void {
    this.#caseSubscribers.add(fn)
    return () => this.#caseSubscribers.delete(fn)
  }

  /** Tells live sockets of admins and ops how a firmware campaign, or one of its units, stands now. */
  campaignChanged(frame: CampaignFrame): void {
    for (const s of this.#campaignSubscribers) s(frame)
  }

  subscribeCampaigns(fn: (f: CampaignFrame) => void): () => void {
    this.#campaignSubscribers.add(fn)
    return () => this.#campaignSubscribers.delete(fn)
  }

  /**
   * Alerts after `afterId`, oldest first. `gap` is true when some of them
   * already left the ring: the client must refetch state instead.
   */
  since(afterId: number): { alerts: Alert[]; gap: boolean } {
    const oldestHeld = Math.max(1, this.#lastId - this.#ring.length + 1)
    const from = Math.max(afterId + 1, oldestHeld)
    const alerts: Alert[] = []
    for (let id = from; id <= this.#lastId; id++) {
      const a = this.#ring[id % this.#ring.length]
      if (a && a.id === id) alerts.push(a)
    }
    return { alerts, gap: afterId + 1 < oldestHeld && afterId < this.#lastId }
  }

  recent(limit: number): Alert[] {
    return this.since(Math.max(0, this.#lastId - limit)).alerts
  }
}
