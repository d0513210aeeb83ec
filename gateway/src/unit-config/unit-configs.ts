import {
  applyConfigPatch,
  type ConfigChangeResult,
  type ConfigDesired,
  type ConfigOverview,
  type ConfigStatus,
  DEFAULT_UNIT_CONFIG,
  mergeConfigPatches,
  topicFor,
  type UnitConfig,
  type UnitConfigPatch,
} from '@doorstep/proto'
import type { Db } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import type { MqttBroker } from '../mqtt/index.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/index.js'
import { ConfigTable, type DesiredRow } from './config-table.js'
import { configView, countsByDistrict } from './config-view.js'

/** Which units a change is for. */
export type ConfigTarget =
  | { kind: 'device'; deviceId: string }
  | { kind: 'district'; district: number }
  | { kind: 'fleet' }

export interface UnitConfigsDeps {
  db: Db
  registry: Pick<DeviceRegistry, 'get' | 'list'>
  broker: Pick<MqttBroker, 'publish' | 'filterForward'>
  bus: Pick<EventBus, 'on'>
  log: Logger
}

/**
 * Remote configuration of units. Ops set a desired configuration; every unit it reaches gets its next
 * version, kept in SQLite and published retained on `cam/{id}/config`. Units answer on
 * `config/reported` (validated by ingest, handed over on the bus).
 *
 * A unit gets its latest version and only that one, once per connection: the broker's retained store
 * holds the latest (republished from SQLite at start, since aedes keeps it in memory only), and a
 * delivery filter drops a version that is no longer the latest (one queued in a persistent session
 * while the unit was away) and a version this connection was already given (queued and retained both).
 */
export class UnitConfigs implements Feature {
  readonly name = 'unit-config'
  readonly #d: UnitConfigsDeps
  readonly #log: Logger
  #table: ConfigTable | null = null
  /** Each configured unit's latest desired version: read by the delivery filter on every forward. */
  readonly #latest = new Map<string, number>()
  /** The fleet's and the districts' merged changes (see `ConfigTable.layers`). */
  #layers = new Map<string, UnitConfigPatch>()
  /** The version each connection was last given. */
  #given = new WeakMap<object, number>()
  #off: Array<() => void> = []

  constructor(deps: UnitConfigsDeps) {
    this.#d = deps
    this.#log = deps.log.child({ feature: 'unit-config' })
  }

  async start(): Promise<void> {
    const table = new ConfigTable(this.#d.db)
    table.migrate()
    this.#table = table
    const rows = table.allDesired()
    for (const r of rows) this.#latest.set(r.deviceId, r.version)
    this.#layers = table.layers()
    this.#off.push(
      this.#d.bus.on('device.connected', ({ deviceId }) => {
        if (!this.#latest.has(deviceId)) void this.#inherit(deviceId)
      }),
      this.#d.broker.filterForward((session, deviceId, topic, payload) =>
        this.#mayDeliver(session, deviceId, topic, payload),
      ),
      this.#d.bus.on('device.configReported', ({ device, report, at }) => {
        table.report(device.id, report, at)
        if (!report.applied)
          this.#log.info(
            { device: device.id, version: report.version, reason: report.reason },
            'unit refused',
          )
      }),
    )
    // The broker's retained store starts empty: a unit that comes back after a restart must still
    // find its latest version when it subscribes.
    await Promise.all(rows.map((r) => this.#publish(r)))
    if (rows.length > 0) this.#log.info({ units: rows.length }, 'desired configurations republished')
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#latest.clear()
    this.#layers = new Map()
    this.#given = new WeakMap()
    this.#table = null
  }

  /** Lays `patch` over the current desired configuration of every unit `target` covers. */
  async change(target: ConfigTarget, patch: UnitConfigPatch, by: string): Promise<ConfigChangeResult> {
    const table = this.#must()
    const devices = this.#devicesOf(target)
    const scope =
      target.kind === 'device'
        ? 'device'
        : target.kind === 'district'
          ? `district:${target.district}`
          : 'fleet'
    const prior = this.#layers.get(scope)
    const layer = target.kind === 'device' ? undefined : prior ? mergeConfigPatches(prior, patch) : patch
    const districtOf = new Map(devices.map((d) => [d.id, d.district]))
    const rows = table.change(
      devices.map((d) => d.id),
      // A unit never configured starts from what the fleet and its district were set to.
      (cur, id) => applyConfigPatch(cur ?? this.#layered(districtOf.get(id) ?? -1), patch),
      { at: Date.now(), by, scope },
      layer,
    )
    if (layer) this.#layers.set(scope, layer)
    // Known before the publish, so the delivery filter already takes the new version as the latest.
    for (const r of rows) this.#latest.set(r.deviceId, r.version)
    await Promise.all(rows.map((r) => this.#publish(r)))
    return { changed: rows.length, units: rows.map((r) => ({ deviceId: r.deviceId, version: r.version })) }
  }

  view(deviceId: string): ReturnType<typeof configView> {
    const device = this.#d.registry.get(deviceId)
    if (!device) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${deviceId}`)
    const table = this.#must()
    return configView(device, table.desired(deviceId), table.reported(deviceId), Date.now())
  }

  overview(q: {
    district?: number | undefined
    status?: ConfigStatus | undefined
    limit: number
  }): ConfigOverview {
    const table = this.#must()
    const desired = new Map(table.allDesired().map((r) => [r.deviceId, r]))
    const reported = new Map(table.allReported().map((r) => [r.deviceId, r]))
    const now = Date.now()
    const views = this.#d.registry
      .list({ district: q.district })
      .map((d) => configView(d, desired.get(d.id) ?? null, reported.get(d.id) ?? null, now))
    const matching = q.status ? views.filter((v) => v.status === q.status) : views
    return {
      districts: countsByDistrict(views),
      units: matching.slice(0, q.limit),
      truncated: matching.length > q.limit,
    }
  }

  /**
   * A unit that joins (provisioned, or never configured) after a district's or the fleet's change
   * starts from those changes, the fleet's first: its first connection gives it version 1 of them.
   */
  async #inherit(deviceId: string): Promise<void> {
    const device = this.#d.registry.get(deviceId)
    const table = this.#table
    if (!device || !table) return
    const district = this.#layers.has(`district:${device.district}`)
    if (!district && !this.#layers.has('fleet')) return
    const config = this.#layered(device.district)
    const rows = table.change([deviceId], (cur) => cur ?? config, {
      at: Date.now(),
      by: 'gateway',
      scope: district ? `district:${device.district}` : 'fleet',
    })
    for (const r of rows) this.#latest.set(r.deviceId, r.version)
    this.#log.info({ device: deviceId, version: rows[0]?.version }, 'configuration inherited')
    await Promise.all(rows.map((r) => this.#publish(r)))
  }

  /** The defaults with the fleet's changes and then the district's laid over them. */
  #layered(district: number): UnitConfig {
    const fleet = this.#layers.get('fleet')
    const own = this.#layers.get(`district:${district}`)
    const base = fleet ? applyConfigPatch(DEFAULT_UNIT_CONFIG, fleet) : DEFAULT_UNIT_CONFIG
    return own ? applyConfigPatch(base, own) : base
  }

  #devicesOf(target: ConfigTarget): DeviceRecord[] {
    if (target.kind === 'district') return this.#d.registry.list({ district: target.district })
    if (target.kind === 'fleet') return this.#d.registry.list({})
    const device = this.#d.registry.get(target.deviceId)
    if (!device) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${target.deviceId}`)
    return [device]
  }

  #publish(r: DesiredRow): Promise<void> {
    const msg: ConfigDesired = { v: 1, ts: r.at, version: r.version, config: r.config }
    return this.#d.broker
      .publish(topicFor('config', r.deviceId), JSON.stringify(msg), { qos: 1, retain: true })
      .catch((err: Error) =>
        // The row is kept: the unit gets it from the republish at the next start.
        this.#log.warn({ device: r.deviceId, version: r.version, err: err.message }, 'config not published'),
      )
  }

  /**
   * The delivery filter. A unit is never given a version older than its latest (a persistent session
   * queues every version published while the unit was away), and one connection is not given the same
   * version twice (the queued copy and the retained copy on a new SUBSCRIBE). Versions also guard the
   * unit's side: it ignores any version not newer than the last it answered.
   */
  #mayDeliver(session: object, deviceId: string, topic: string, payload: Buffer): boolean {
    if (!topic.endsWith('/config') || topic !== topicFor('config', deviceId)) return true
    const version = versionOf(payload)
    if (version === null || version !== this.#latest.get(deviceId)) return false
    if (this.#given.get(session) === version) return false
    this.#given.set(session, version)
    return true
  }

  #must(): ConfigTable {
    if (!this.#table) throw new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN')
    return this.#table
  }
}

function versionOf(payload: Buffer): number | null {
  try {
    const v = (JSON.parse(payload.toString('utf8')) as { version?: unknown }).version
    return typeof v === 'number' ? v : null
  } catch {
    return null
  }
}
