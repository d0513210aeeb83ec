import path from 'node:path'
import type { TopicKind } from '@doorstep/proto'
import type { Config } from '../config.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import { toIndexTuple } from '../events/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { DeviceRegistry } from '../registry/index.js'
import { BatchWriter, type LineSink } from './batch-writer.js'
import { ClockSkew } from './clock-skew.js'
import { decodePayload } from './decode.js'
import { HelloLimit } from './hello-limit.js'
import { IndexMoveLog } from './index-moves.js'
import { InvalidTracker } from './invalid-tracker.js'
import { eventLine, heartbeatLine, RP_DEFAULT, RP_EVENTS, SeriesKeys } from './points.js'
import { Spool } from './spool.js'

/**
 * How ingest answers the broker for one publish: called exactly once, with
 * null to acknowledge (at once, or for an event once it is durable), or with
 * an error to close the connection unacknowledged. `dropped` is true when the
 * payload was acknowledged but not taken (invalid, or a hello over the rate):
 * the broker must not retain it or deliver it to anyone.
 */
export type IngestAck = (err: Error | null, dropped?: boolean) => void

/** What `#handle` decided: acknowledge now (taken or dropped), or `ack` is called later. */
type Verdict = 'taken' | 'dropped' | 'later'

/**
 * The ingest pipeline for everything units publish: decode → validate →
 * enrich → batch → write. It runs inside the broker's `authorizePublish`,
 * before the PUBACK, so an event is acknowledged only once it is durable.
 */
export class Ingest implements Feature {
  readonly name = 'ingest'
  readonly skew = new ClockSkew()
  readonly #cfg: Config
  readonly #registry: DeviceRegistry
  readonly #bus: EventBus
  readonly #log: Logger
  readonly #metrics: Metrics
  readonly #sink: LineSink
  readonly #keys = new SeriesKeys()
  readonly #invalid: InvalidTracker
  readonly #hellos: HelloLimit
  readonly #indexMoves: IndexMoveLog
  /** Plain per-kind counts, added to `doorstep_messages_in_total` when it is scraped (see metrics.ts). */
  readonly #received: Record<TopicKind, number>
  #spool: Spool | null = null
  #writer: BatchWriter | null = null

  constructor(deps: {
    config: Config
    registry: DeviceRegistry
    bus: EventBus
    log: Logger
    metrics: Metrics
    sink: LineSink
  }) {
    this.#cfg = deps.config
    this.#registry = deps.registry
    this.#bus = deps.bus
    this.#log = deps.log.child({ feature: 'ingest' })
    this.#metrics = deps.metrics
    this.#sink = deps.sink
    this.#invalid = new InvalidTracker(this.#log, this.#metrics)
    this.#received = this.#metrics.received
    this.#hellos = new HelloLimit(deps.config.ingest.helloMaxPerMin)
    this.#indexMoves = new IndexMoveLog(this.#log)
  }

  async start(): Promise<void> {
    // The spool lives in the gateway's database, next to the event index it commits with.
    const spool = new Spool(path.join(this.#cfg.dataDir, 'doorstep.db'), {
      legacyFile: path.join(this.#cfg.dataDir, 'spool.db'),
      // Gateways sharing PostgreSQL copy their indexed events to it (events/event-shipper.ts).
      outbox: this.#cfg.cluster.databaseUrl !== null,
      onNotIndexed: (ids) => {
        for (const eventId of ids)
          this.#log.warn({ eventId }, 'event id belongs to another unit; not indexed')
      },
      onIndexMove: (n) => this.#indexMoves.report(n),
    })
    await spool.open()
    this.#spool = spool
    this.#writer = new BatchWriter(this.#sink, spool, this.#log, this.#metrics, {
      batchSize: this.#cfg.ingest.batchSize,
      flushMs: this.#cfg.ingest.flushMs,
      queueMax: this.#cfg.ingest.queueMax,
    })
    this.#writer.start()
  }

  async stop(): Promise<void> {
    await this.#writer?.stop()
    await this.#spool?.close()
    this.#writer = null
    this.#spool = null
  }

  get writer(): BatchWriter | null {
    return this.#writer
  }

  get spool(): Spool | null {
    return this.#spool
  }

  /** Queues a line that did not come from a unit's payload (presence changes). */
  writeLine(line: string): void {
    this.#writer?.enqueue(line, RP_DEFAULT)
  }

  invalidCounts(deviceId: string): Record<string, number> {
    return this.#invalid.countsFor(deviceId)
  }

  /**
   * One publish from an authenticated unit on its own topic; `ack` is told
   * when the unit may be acknowledged, or the DoorstepError that closes its
   * connection instead.
   */
  handle(deviceId: string, kind: TopicKind, payload: Buffer, at: number, ack: IngestAck): void {
    let verdict: Verdict
    try {
      verdict = this.#handle(deviceId, kind, payload, at, ack)
    } catch (err) {
      // Thrown only before anything was handed on, so `ack` has not been called yet.
      ack(err as Error)
      return
    }
    if (verdict !== 'later') ack(null, verdict === 'dropped')
  }

  /**
   * `later` when the publish must wait (a durable event, a full queue) and
   * `ack` will be called then; otherwise whether the payload was taken or
   * dropped, to acknowledge at once. Throws to refuse.
   */
  #handle(deviceId: string, kind: TopicKind, payload: Buffer, at: number, ack: IngestAck): Verdict {
    const writer = this.#writer
    const spool = this.#spool
    if (!writer || !spool) throw new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN')
    this.#received[kind]++
    const device = this.#registry.get(deviceId)
    if (!device) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${deviceId}`)
    if (kind === 'cmd' || kind === 'config') {
      // Commands and configurations flow gateway → unit only; a unit publishing one is refused.
      return this.#refuse(deviceId, 'foreign-topic', `units may not publish ${kind}`, at)
    }
    const max = this.#cfg.ingest.maxPayloadBytes
    switch (kind) {
      case 'heartbeat': {
        const d = decodePayload('heartbeat', payload, max)
        if (!d.ok) return this.#refuse(deviceId, d.reason, d.detail, at)
        const hb = d.value
        this.skew.observe(deviceId, hb.ts, at)
        const room = writer.enqueue(heartbeatLine(this.#keys.of(device), hb, at), RP_DEFAULT)
        this.#bus.emit('device.heartbeat', { device, heartbeat: hb, at })
        if (room) return 'taken'
        writer.whenRoom(ack)
        return 'later'
      }
      case 'event': {
        const d = decodePayload('event', payload, max)
        if (!d.ok) return this.#refuse(deviceId, d.reason, d.detail, at)
        const ev = d.value
        if (spool.bytes >= this.#cfg.ingest.spoolMaxBytes) {
          // MQTT 3.1.1 has no negative PUBACK: closing unacknowledged makes the unit keep and retry it.
          throw new DoorstepError('DOORSTEP_ERR_SPOOL_FULL')
        }
        const t = this.#eventTime(deviceId, ev.ts, at)
        const line = eventLine(device, ev, t)
        // A retry is recognised by the index row of this unit's event, so no unit can suppress another's.
        spool.append(RP_EVENTS, line, toIndexTuple(device, ev, t), (err, seq) => {
          if (err) {
            ack(err)
            return
          }
          if (seq < 0) {
            this.#metrics.duplicates.inc()
            ack(null)
            return
          }
          this.#bus.emit('device.event', { device, event: ev, at })
          if (writer.enqueue(line, RP_EVENTS, seq)) ack(null)
          else writer.whenRoom(ack)
        })
        return 'later'
      }
      case 'hello': {
        // Before decoding: an excess hello costs a map lookup, not a parse.
        if (!this.#hellos.tryTake(deviceId, at)) {
          this.#metrics.hellosDropped.inc()
          return 'dropped'
        }
        const d = decodePayload('hello', payload, max)
        if (!d.ok) return this.#refuse(deviceId, d.reason, d.detail, at)
        this.skew.observe(deviceId, d.value.ts, at)
        this.#registry.updateIdentity(deviceId, d.value.model, d.value.firmware)
        return 'taken'
      }
      case 'cmdAck': {
        const d = decodePayload('cmdAck', payload, max)
        if (!d.ok) return this.#refuse(deviceId, d.reason, d.detail, at)
        this.#bus.emit('device.cmdAck', { device, ack: d.value, at })
        return 'taken'
      }
      case 'configReported': {
        const d = decodePayload('configReported', payload, max)
        if (!d.ok) return this.#refuse(deviceId, d.reason, d.detail, at)
        this.#bus.emit('device.configReported', { device, report: d.value, at })
        return 'taken'
      }
      case 'status': {
        // Presence follows the connection itself; the retained status is kept for other subscribers.
        const d = decodePayload('status', payload, max)
        if (!d.ok) return this.#refuse(deviceId, d.reason, d.detail, at)
        return 'taken'
      }
    }
  }

  /**
   * An event's time on the gateway's clock (the unit's clock corrected by its
   * learned skew), clamped to [arrival - past tolerance, arrival + future
   * tolerance]. Retention and disk-pressure eviction go by this time: without
   * the clamp a unit could date its events years ahead and keep its clips past
   * retention, evicted after everyone else's. The past tolerance leaves room
   * for a backlog sent after an outage.
   */
  #eventTime(deviceId: string, ts: number, at: number): number {
    const { eventFutureToleranceMs, eventPastToleranceMs } = this.#cfg.ingest
    const t = this.skew.correct(deviceId, ts, at)
    return Math.min(at + eventFutureToleranceMs, Math.max(at - eventPastToleranceMs, t))
  }

  #refuse(
    deviceId: string,
    reason: Parameters<InvalidTracker['record']>[1],
    detail: string,
    at: number,
  ): 'dropped' {
    if (this.#invalid.record(deviceId, reason, detail, at)) {
      throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', `device ${deviceId} is flooding invalid payloads`)
    }
    // Acknowledged but not stored: a unit retrying a payload it cannot fix would only loop.
    return 'dropped'
  }
}
