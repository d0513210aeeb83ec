import type { HealthCounts, HealthResponse, Heartbeat, LiveState } from '@doorstep/proto'
import type { Config } from '../config.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import { presenceLine } from '../ingest/index.js'
import type { DeviceRecord, DeviceRegistry, LiveStateSource } from '../registry/index.js'
import type { RedisPresence, SharedPresence } from './redis-presence.js'

interface Live {
  state: LiveState
  /** Last time the unit was heard from (connect or heartbeat), gateway clock. */
  lastSeen: number | null
  lastHeartbeat: Heartbeat | null
  /** When the current state began. */
  since: number
  graceTimer: NodeJS.Timeout | null
}

const zeroCounts = (): HealthCounts => ({
  total: 0,
  online: 0,
  stale: 0,
  offline: 0,
  unknown: 0,
  lowStorage: 0,
  notRecording: 0,
})

export type DistrictHealth = HealthResponse['districts'][number]

/**
 * Who is online. A unit is online from its CONNECT, stale after missing three
 * heartbeat intervals, offline when its connection ends. Offline waits a short
 * grace first, so a unit that drops and reconnects at once does not flap.
 * Every change is written to InfluxDB (`presence`) and told on the bus.
 */
export class Presence implements Feature, LiveStateSource {
  readonly name = 'presence'
  readonly #cfg: Config
  readonly #bus: EventBus
  readonly #registry: DeviceRegistry
  readonly #write: (line: string) => void
  readonly #share: RedisPresence | null
  readonly #live = new Map<string, Live>()
  #sweeper: NodeJS.Timeout | null = null
  #unsubscribe: Array<() => void> = []

  constructor(deps: {
    config: Config
    bus: EventBus
    registry: DeviceRegistry
    writeLine: (line: string) => void
    /** With Redis: the cluster's presence, which this node reports into and reads the fleet from. */
    share?: RedisPresence | null
  }) {
    this.#cfg = deps.config
    this.#bus = deps.bus
    this.#registry = deps.registry
    this.#write = deps.writeLine
    this.#share = deps.share ?? null
  }

  start(): void {
    const bus = this.#bus
    this.#unsubscribe = [
      bus.on('device.connected', ({ deviceId, at }) => this.#connected(deviceId, at)),
      bus.on('device.disconnected', ({ deviceId, at, reason }) => this.#disconnected(deviceId, at, reason)),
      bus.on('device.heartbeat', ({ device, heartbeat, at }) => this.#heartbeat(device, heartbeat, at)),
    ]
    const intervalMs = this.#cfg.presence.heartbeatIntervalS * 1000
    this.#sweeper = setInterval(() => this.sweep(Date.now()), Math.min(5000, intervalMs / 2)).unref()
    this.#share?.onReaped((entries) => this.#reaped(entries))
  }

  stop(): void {
    for (const u of this.#unsubscribe) u()
    this.#unsubscribe = []
    if (this.#sweeper) clearInterval(this.#sweeper)
    for (const l of this.#live.values()) if (l.graceTimer) clearTimeout(l.graceTimer)
    this.#live.clear()
  }

  /** The cluster's presence this node reports into, when gateways share Redis. */
  get share(): RedisPresence | null {
    return this.#share
  }

  stateOf(id: string): {
    state: LiveState
    lastSeen: number | null
    lastHeartbeat: Heartbeat | null
  } {
    const e = this.#elsewhere(id)
    if (e) return { state: e.state, lastSeen: e.lastSeen, lastHeartbeat: e.lastHeartbeat }
    const l = this.#live.get(id)
    if (!l) return { state: 'unknown', lastSeen: null, lastHeartbeat: null }
    return { state: l.state, lastSeen: l.lastSeen, lastHeartbeat: l.lastHeartbeat }
  }

  since(id: string): number | null {
    return this.#elsewhere(id)?.since ?? this.#live.get(id)?.since ?? null
  }

  /** A unit connected here is as this node sees it; any other as the cluster last heard it (or null). */
  #elsewhere(id: string): SharedPresence | null {
    if (!this.#share) return null
    const l = this.#live.get(id)
    if (l && (l.state === 'online' || l.state === 'stale')) return null
    return this.#share.get(id)
  }

  /** Marks units stale that missed three heartbeat intervals. Public for tests with a fixed clock. */
  sweep(now: number): void {
    const limit = 3 * this.#cfg.presence.heartbeatIntervalS * 1000
    for (const [id, l] of this.#live) {
      if (l.state === 'online' && l.lastSeen !== null && now - l.lastSeen > limit) {
        this.#transition(id, l, 'stale', now, 'missed 3 heartbeats')
      }
    }
  }

  health(): { overall: HealthCounts; districts: DistrictHealth[] } {
    const byDistrict = new Map<number, DistrictHealth>()
    const lowPct = this.#cfg.presence.lowStoragePct
    for (const d of this.#registry.list({})) {
      let h = byDistrict.get(d.district)
      if (!h) {
        h = { district: d.district, ...zeroCounts() }
        byDistrict.set(d.district, h)
      }
      h.total++
      const l = this.stateOf(d.id)
      h[l.state]++
      const hb = l.lastHeartbeat
      if (hb) {
        if ((hb.storageFreeMb / hb.storageTotalMb) * 100 < lowPct) h.lowStorage++
        if (!hb.recording) h.notRecording++
      }
    }
    const districts = [...byDistrict.values()].sort((a, b) => a.district - b.district)
    const overall = zeroCounts()
    for (const h of districts) {
      for (const k of Object.keys(overall) as Array<keyof typeof overall>) overall[k] += h[k]
    }
    return { overall, districts }
  }

  #entry(id: string, now: number): Live {
    let l = this.#live.get(id)
    if (!l) {
      l = { state: 'unknown', lastSeen: null, lastHeartbeat: null, since: now, graceTimer: null }
      this.#live.set(id, l)
    }
    return l
  }

  #connected(id: string, at: number): void {
    const l = this.#entry(id, at)
    if (l.graceTimer) {
      clearTimeout(l.graceTimer)
      l.graceTimer = null
    }
    l.lastSeen = at
    if (l.state !== 'online') this.#transition(id, l, 'online', at, 'connect')
    // Already online here: the connection is still this node's, whatever the cluster heard meanwhile.
    else this.#report(id, l, 'connect')
  }

  #disconnected(id: string, at: number, reason: string): void {
    const l = this.#entry(id, at)
    if (l.graceTimer) clearTimeout(l.graceTimer)
    const fire = () => {
      l.graceTimer = null
      this.#transition(id, l, 'offline', at, reason)
    }
    if (this.#cfg.presence.graceMs === 0) fire()
    else l.graceTimer = setTimeout(fire, this.#cfg.presence.graceMs).unref()
  }

  #heartbeat(device: DeviceRecord, hb: Heartbeat, at: number): void {
    const l = this.#entry(device.id, at)
    l.lastSeen = at
    l.lastHeartbeat = hb
    if (l.state === 'stale' || l.state === 'unknown')
      this.#transition(device.id, l, 'online', at, 'heartbeat')
    else this.#report(device.id, l, 'heartbeat')
  }

  #transition(id: string, l: Live, to: LiveState, at: number, reason: string): void {
    const from = l.state
    if (from === to) return
    l.state = to
    l.since = at
    const device = this.#registry.get(id)
    if (!device) return
    const tell = () => {
      this.#write(presenceLine(device, to, reason, at))
      this.#bus.emit('presence.changed', { device, from, to, at, reason })
    }
    const share = this.#share
    if (!share) {
      tell()
      return
    }
    const cluster = share.get(id)
    const elsewhere = cluster !== null && cluster.node !== share.nodeId
    // The unit moved to another node, which speaks for it now: losing it here changes nothing.
    if ((to === 'offline' || to === 'stale') && elsewhere) return
    // It came here from another node without going offline: no change for the cluster either.
    const moved = to === 'online' && elsewhere && cluster.state === 'online'
    // Told once Redis has it: a loss that another node's news of the unit overtook is refused there.
    this.#report(id, l, reason, moved ? () => {} : tell)
  }

  #report(id: string, l: Live, reason: string, kept?: () => void): void {
    this.#share?.put(
      {
        id,
        state: l.state,
        node: this.#share.nodeId,
        since: l.since,
        lastSeen: l.lastSeen,
        lastHeartbeat: l.lastHeartbeat,
        reason,
      },
      kept,
    )
  }

  /** A gone node's units, marked offline by this node for the cluster: told here, once. */
  #reaped(entries: Array<{ entry: SharedPresence; from: LiveState }>): void {
    for (const { entry, from } of entries) {
      const device = this.#registry.get(entry.id)
      if (!device) continue
      const at = entry.since
      this.#write(presenceLine(device, 'offline', 'gateway lost', at))
      this.#bus.emit('presence.changed', { device, from, to: 'offline', at, reason: 'gateway lost' })
    }
  }
}
