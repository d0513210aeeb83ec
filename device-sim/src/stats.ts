/**
 * Fleet counters. One mutable object shared by every unit (plain number
 * fields: an increment per message must cost nothing); callers get copies.
 */
export const SENT_KINDS = ['hello', 'heartbeat', 'event', 'status', 'cmdAck', 'configReported'] as const
export type SentKind = (typeof SENT_KINDS)[number]

export interface FleetStats {
  /** Units in the plan. */
  units: number
  /** Units with an accepted MQTT session right now. */
  connected: number
  /** Publishes handed to the client, per topic kind (bad payloads included). */
  sent: Record<SentKind, number>
  /** Publishes the broker acknowledged (QoS 1: PUBACK; QoS 0: written to the socket). */
  acked: Record<SentKind, number>
  /** Accepted connections (CONNACK 0). */
  connects: number
  /** CONNACK 3, server unavailable: the gateway's admission limit. Retried with backoff. */
  refusedConnects: number
  /** CONNACK 2, 4 or 5: identity or credentials refused. */
  authFailures: number
  /** Sessions that ended while the unit wanted to stay (drops, power cuts, server closes). */
  disconnects: number
  /**
   * Those sessions by why they ended: the client's error (`Keepalive timeout`, `ECONNRESET`...),
   * `server closed` (the gateway closed the socket), `closed` (neither side said why), or the fault
   * injected (`drop`, `power cut`). Sums to `disconnects`; at most 32 causes.
   */
  sessionEnds: Record<string, number>
  /** Connect attempts that ended before CONNACK 0, by why (`CONNACK 3`, `connack timeout`...); at most 32 causes. */
  connectFailures: Record<string, number>
  /** Transport errors, failed publishes, failed uploads. */
  errors: number
  /** The same errors by cause (`connack timeout`, `ECONNRESET`, `upload: HTTP 404`...), at most 32 causes. */
  errorKinds: Record<string, number>
  /** Events completed (the `end` phase was published). */
  events: number
  /** Clips the gateway holds completely after an upload. */
  clips: number
  clipBytes: number
  uploadFailures: number
  commands: { received: number; invalid: number; ping: number; pull: number; refused: number }
  /** Desired configurations received on `cam/{id}/config`, and what became of them. */
  configs: { received: number; invalid: number; applied: number; refused: number }
  /** Bad payloads sent on purpose, by what proto should make of them. */
  badPayloads: { reject: number; accept: number }
  /** Heartbeats proto accepts (good ones and odd-but-valid ones): what InfluxDB should end up holding. */
  heartbeatsValid: number
  /**
   * Heartbeats sent within `AT_RISK_MS` (unit-link.ts) before a session ended while the unit wanted
   * to stay (a drop, a power cut, the gateway closing it, a takeover by a stale connection): the
   * gateway may never have read them, and QoS 0 is at most once. A count of heartbeats missing from
   * InfluxDB at or under it is explained by such ends; one above it is not.
   */
  heartbeatsAtRisk: number
  powerCuts: number
  /** When the fleet started, ms since the epoch. */
  startedAt: number
}

const zeroKinds = (): Record<SentKind, number> => ({
  hello: 0,
  heartbeat: 0,
  event: 0,
  status: 0,
  cmdAck: 0,
  configReported: 0,
})

export function newStats(units: number, startedAt = Date.now()): FleetStats {
  return {
    units,
    connected: 0,
    sent: zeroKinds(),
    acked: zeroKinds(),
    connects: 0,
    refusedConnects: 0,
    authFailures: 0,
    disconnects: 0,
    sessionEnds: {},
    connectFailures: {},
    errors: 0,
    errorKinds: {},
    events: 0,
    clips: 0,
    clipBytes: 0,
    uploadFailures: 0,
    commands: { received: 0, invalid: 0, ping: 0, pull: 0, refused: 0 },
    configs: { received: 0, invalid: 0, applied: 0, refused: 0 },
    badPayloads: { reject: 0, accept: 0 },
    heartbeatsValid: 0,
    heartbeatsAtRisk: 0,
    powerCuts: 0,
    startedAt,
  }
}

export function copyStats(s: FleetStats): FleetStats {
  return {
    ...s,
    sent: { ...s.sent },
    errorKinds: { ...s.errorKinds },
    sessionEnds: { ...s.sessionEnds },
    connectFailures: { ...s.connectFailures },
    acked: { ...s.acked },
    commands: { ...s.commands },
    configs: { ...s.configs },
    badPayloads: { ...s.badPayloads },
  }
}

export function totalSent(s: FleetStats): number {
  return SENT_KINDS.reduce((n, k) => n + s.sent[k], 0)
}

export function totalAcked(s: FleetStats): number {
  return SENT_KINDS.reduce((n, k) => n + s.acked[k], 0)
}

const MAX_ERROR_KINDS = 32

/** Counts one under its cause; causes past the first 32 share `other` so the map stays small. */
export function countCause(kinds: Record<string, number>, cause: string): void {
  const key = cause in kinds || Object.keys(kinds).length < MAX_ERROR_KINDS ? cause : 'other'
  kinds[key] = (kinds[key] ?? 0) + 1
}

/** Counts an error under its cause. */
export function countError(s: FleetStats, cause: string): void {
  s.errors++
  countCause(s.errorKinds, cause)
}

/** A short, bounded cause for an Error: its code when it has one, else its first words. */
export function causeOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null
  if (typeof e?.code === 'string') return e.code
  const msg = typeof e?.message === 'string' ? e.message : String(err)
  // Numbers and ids vary per unit; strip them so one cause is one key.
  return msg
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>')
    .replace(/\d+/g, 'N')
    .slice(0, 60)
}
