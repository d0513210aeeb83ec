import type { AlertKind } from '@doorstep/proto'
import type { Config } from '../config.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import type { AlertHub, CampaignFrame, CaseFrame } from './alert-hub.js'
import { EdgeSet, EVENT_SEVERITY, isLowStorage } from './conditions.js'
import { ProgressThrottle } from './progress-throttle.js'

type PullFrame = Extract<CaseFrame, { type: 'pull' }>
const FINAL_PULL = new Set(['done', 'refused', 'failed'])
const FINAL_UPDATE = new Set(['done', 'failed', 'rolled-back', 'skipped'])

interface Fold {
  folded: number
  last: {
    district: number
    at: number
    severity: 'info' | 'warning' | 'critical'
    eventId: string | undefined
    message: string
  } | null
  timer: NodeJS.Timeout
}

/**
 * Turns what happens in the fleet into alerts: detections at their start,
 * tamper, presence changes, and heartbeats that cross into low storage or
 * stop recording (raised once on the change, not on every heartbeat).
 * A unit that chatters is folded: the first alert goes out at once; repeats
 * of the same kind from the same unit within `foldMs` are counted, and one
 * alert carrying that count goes out when the window closes.
 */
export class AlertRules implements Feature {
  readonly name = 'alert-rules'
  readonly #bus: EventBus
  readonly #hub: AlertHub
  readonly #cfg: Config
  readonly #foldMs: number
  #off: Array<() => void> = []
  readonly #lowStorage = new EdgeSet()
  readonly #notRecording = new EdgeSet()
  /** Open fold windows by unit and kind; each closes by its own timer, so the map only holds chattering units. */
  readonly #fold = new Map<string, Fold>()

  constructor(deps: { bus: EventBus; hub: AlertHub; config: Config; foldMs?: number }) {
    this.#bus = deps.bus
    this.#hub = deps.hub
    this.#cfg = deps.config
    this.#foldMs = deps.foldMs ?? 30_000
    this.#pulls = new ProgressThrottle<PullFrame>({
      // Twice a second is live enough for a progress bar and cheap for hundreds of units uploading.
      intervalMs: 500,
      maxKeys: 10_000,
      send: (f) => this.#hub.caseChanged(f),
      urgent: (a, b) => a.state !== b.state || a.reason !== b.reason || a.total !== b.total,
      final: (f) => FINAL_PULL.has(f.state),
    })
    this.#updates = new ProgressThrottle<CampaignFrame>({
      intervalMs: 500,
      maxKeys: 10_000,
      send: (f) => this.#hub.campaignChanged(f),
      urgent: (a, b) => a.unit?.state !== b.unit?.state || a.state !== b.state || a.reason !== b.reason,
      final: (f) => FINAL_UPDATE.has(f.unit?.state ?? ''),
    })
  }

  readonly #pulls: ProgressThrottle<PullFrame>
  /** Units' firmware downloads, throttled like the pulls' uploads. */
  readonly #updates: ProgressThrottle<CampaignFrame>

  start(): void {
    this.#off = [
      this.#bus.on('device.event', ({ device, event, at }) => {
        if (event.phase !== 'start') return
        this.#raise(
          device.id,
          device.district,
          event.kind,
          at,
          EVENT_SEVERITY[event.kind],
          event.eventId,
          `${event.kind} at ${device.address} (score ${event.score.toFixed(2)})`,
        )
      }),
      this.#bus.on('presence.changed', ({ device, to, at, reason }) => {
        if (to === 'unknown') return
        const severity = to === 'online' ? 'info' : 'warning'
        this.#raise(device.id, device.district, to, at, severity, undefined, `${device.id} ${to} (${reason})`)
      }),
      this.#bus.on('device.heartbeat', ({ device, heartbeat: hb, at }) => {
        if (this.#lowStorage.rises(device.id, isLowStorage(hb, this.#cfg.presence.lowStoragePct))) {
          this.#raise(
            device.id,
            device.district,
            'low-storage',
            at,
            'warning',
            undefined,
            `${device.id} storage ${Math.round(hb.storageFreeMb)} MiB free`,
          )
        }
        if (this.#notRecording.rises(device.id, !hb.recording)) {
          this.#raise(
            device.id,
            device.district,
            'not-recording',
            at,
            'warning',
            undefined,
            `${device.id} stopped recording`,
          )
        }
      }),
      this.#bus.on('pull.changed', (p) => this.#pulls.push(p.pullId, { type: 'pull', ...p })),
      this.#bus.on('case.changed', (c) => this.#hub.caseChanged({ type: 'case', ...c })),
      this.#bus.on('campaign.changed', (c) =>
        this.#hub.campaignChanged({
          type: 'campaign',
          campaignId: c.campaignId,
          state: c.state,
          reason: c.reason,
          unit: null,
        }),
      ),
      this.#bus.on('campaign.unit', (u) =>
        this.#updates.push(`${u.campaignId}/${u.deviceId}`, {
          type: 'campaign',
          campaignId: u.campaignId,
          state: u.campaignState,
          reason: null,
          unit: {
            deviceId: u.deviceId,
            district: u.district,
            state: u.state,
            bytes: u.bytes,
            total: u.total,
            reason: u.reason,
          },
        }),
      ),
      // Not an alert: a hint for live feeds that a thumbnail can be shown now.
      this.#bus.on('clip.ready', ({ eventId, deviceId, district }) =>
        this.#hub.clipReady({ eventId, deviceId, district }),
      ),
    ]
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    for (const f of this.#fold.values()) clearTimeout(f.timer)
    this.#fold.clear()
    this.#pulls.clear()
    this.#updates.clear()
  }

  #raise(
    deviceId: string,
    district: number,
    kind: AlertKind,
    at: number,
    severity: 'info' | 'warning' | 'critical',
    eventId: string | undefined,
    message: string,
  ): void {
    const key = `${deviceId}:${kind}`
    const f = this.#fold.get(key)
    if (f) {
      // Inside the window: counted, and told once when the window closes.
      f.folded++
      f.last = { district, at, severity, eventId, message }
      return
    }
    this.#hub.raise({
      kind,
      severity,
      deviceId,
      district,
      count: 1,
      message,
      ...(eventId ? { eventId } : {}),
      at,
    })
    this.#openWindow(deviceId, kind, key)
  }

  #openWindow(deviceId: string, kind: AlertKind, key: string): void {
    const timer = setTimeout(() => this.#closeWindow(deviceId, kind, key), this.#foldMs)
    timer.unref()
    this.#fold.set(key, { folded: 0, last: null, timer })
  }

  /** Ends a fold window: one alert standing for every repeat inside it, then a fresh window if there were any. */
  #closeWindow(deviceId: string, kind: AlertKind, key: string): void {
    const f = this.#fold.get(key)
    this.#fold.delete(key)
    if (!f || f.folded === 0 || !f.last) return
    const l = f.last
    this.#hub.raise({
      kind,
      severity: l.severity,
      deviceId,
      district: l.district,
      count: f.folded,
      foldedMs: this.#foldMs,
      message: `${l.message} (${f.folded}× in ${Math.round(this.#foldMs / 1000)} s)`,
      ...(l.eventId ? { eventId: l.eventId } : {}),
      at: l.at,
    })
    this.#openWindow(deviceId, kind, key)
  }
}
