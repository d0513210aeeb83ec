import type {
  CommandAck,
  ConfigReported,
  DeviceEvent,
  Heartbeat,
  LiveState,
  PullState,
  UnitUpdateState,
} from '@doorstep/proto'
import type { Logger } from './log.js'
import type { DeviceRecord } from './registry/index.js'

/** Everything features tell each other. Payload types come from proto or the owning feature. */
export interface BusEvents {
  'device.connected': { deviceId: string; at: number }
  /** `clean`: the unit sent DISCONNECT; `will`: any other end, and its will was published. */
  'device.disconnected': { deviceId: string; at: number; reason: 'clean' | 'will' }
  /** A validated heartbeat, after it was queued for InfluxDB. */
  'device.heartbeat': { device: DeviceRecord; heartbeat: Heartbeat; at: number }
  /** A validated event, after it is durable in the spool (never for a duplicate). */
  'device.event': { device: DeviceRecord; event: DeviceEvent; at: number }
  'device.cmdAck': { device: DeviceRecord; ack: CommandAck; at: number }
  /** An event's clip is stored and verified and its thumbnail is made. */
  'clip.ready': { eventId: string; deviceId: string; district: number; at: number }
  /**
   * A unit's credentials stopped being valid: it was disabled or its secret rotated. Its live MQTT
   * connection (the broker) and its HTTP requests in flight (the roles plugin) end now; new ones
   * already fail, the registry refuses it.
   */
  'device.revoked': { deviceId: string; reason: 'disabled' | 'rotated'; at: number }
  /** A person's token stopped working (revoked, or the bootstrap token retired: id 0). */
  'token.revoked': { tokenId: number; at: number }
  /** A pull was asked for or its progress changed (state, bytes, size, reason). */
  'pull.changed': {
    pullId: string
    caseId: string
    deviceId: string
    district: number
    state: PullState
    bytes: number
    total: number | null
    reason: string | null
  }
  'case.changed': { caseId: string; number: string; state: 'open' | 'closed' }
  'presence.changed': { device: DeviceRecord; from: LiveState; to: LiveState; at: number; reason: string }
  /**
   * A firmware campaign changed state; `paused` with a reason when its failure rate crossed the
   * threshold (the firmware feature emits it, notifications tell people).
   */
  'campaign.changed': {
    campaignId: string
    name: string
    state: 'draft' | 'running' | 'paused' | 'cancelled' | 'done'
    reason: string | null
    districts: number[]
    at: number
    /**
     * Made by another gateway of the cluster (heard by notice): its dashboards are told here too, but
     * people are notified by the gateway that made the change, once.
     */
    elsewhere?: boolean
  }
  /** A unit's validated answer to its desired configuration (`cam/{id}/config/reported`). */
  'device.configReported': { device: DeviceRecord; report: ConfigReported; at: number }
  /** One unit of a campaign moved on (state, downloaded bytes, reason): live progress for admins and ops. */
  'campaign.unit': {
    campaignId: string
    campaignState: 'draft' | 'running' | 'paused' | 'cancelled' | 'done'
    deviceId: string
    district: number
    state: UnitUpdateState
    bytes: number
    total: number
    reason: string | null
  }
}

type Listener<T> = (payload: T) => void

/**
 * A synchronous, typed event bus. Listeners run inline on the hot path, so
 * they must be quick; a listener that throws is logged and does not stop the
 * others or the sender.
 */
export class EventBus {
  readonly #listeners = new Map<keyof BusEvents, Set<Listener<never>>>()
  readonly #log: Logger

  constructor(log: Logger) {
    this.#log = log
  }

  on<K extends keyof BusEvents>(name: K, fn: Listener<BusEvents[K]>): () => void {
    let set = this.#listeners.get(name)
    if (!set) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(fn as Listener<never>)
    return () => set.delete(fn as Listener<never>)
  }

  emit<K extends keyof BusEvents>(name: K, payload: BusEvents[K]): void {
    const set = this.#listeners.get(name)
    if (!set) return
    for (const fn of set) {
      try {
        ;(fn as Listener<BusEvents[K]>)(payload)
      } catch (err) {
        this.#log.error({ err, event: name }, 'bus listener failed')
      }
    }
  }
}
