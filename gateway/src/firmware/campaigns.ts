import { createHash, randomUUID } from 'node:crypto'
import {
  type CampaignCreate,
  type CampaignState,
  Command,
  type CommandAck,
  compareVersions,
  topicFor,
  type UnitUpdateState,
} from '@doorstep/proto'
import type { AuditLog } from '../audit/index.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import type { Logger } from '../log.js'
import { type CommandChannel, CommandListeners } from '../mqtt/index.js'
import type { DeviceRegistry } from '../registry/index.js'
import { type CampaignRow, FINAL_UNIT, type FirmwareStore, type UnitRow } from './firmware-store.js'

export interface RolloutDeps {
  table: FirmwareStore
  registry: Pick<DeviceRegistry, 'list' | 'get'>
  broker: CommandChannel
  audit: Pick<AuditLog, 'record'>
  bus: EventBus
  log: Logger
  defaultConcurrency: number
  now: () => number
}

export const GATEWAY_ACTOR = 'gateway'

/** The unit's reports that move its update along, and the state each one means. */
const ACK_STATE: Partial<Record<CommandAck['status'], UnitUpdateState>> = {
  downloading: 'downloading',
  verifying: 'verifying',
  installing: 'installing',
  done: 'done',
  failed: 'failed',
  refused: 'failed',
  'rolled-back': 'rolled-back',
}

export function downloadPathOf(imageId: string): string {
  return `/api/v1/firmware/images/${imageId}/download`
}

/**
 * Campaigns from draft to done, and the `update` commands they send.
 *
 * - Waves: each unit is given a wave when the campaign is made (a stable shuffle, so districts mix);
 *   wave 0 is the canary. The next wave opens once every unit of the open waves has finished or is
 *   away without its offer, and at least one has finished: a unit that never comes back does not hold
 *   up the city, and it still gets its offer when it returns.
 * - Pause rule: when failures (`failed`, `rolled-back`) pass `pauseFailurePct` of the units finished
 *   since the campaign started or was last resumed, once at least `pauseMinFinished` finished, the
 *   campaign pauses itself and says why. Paused, no new offers go out; units already holding one carry
 *   on and are counted.
 * - Budget: at most `districtConcurrency` units of one district hold an offer they have not finished
 *   downloading (`offered`, `downloading`), like the pulls' district budget.
 * - Delivery: offers go only to units connected and listening on `cam/{id}/cmd`. A unit that drops
 *   mid-download goes back to `pending` (freeing the budget) and is offered the same command (same
 *   `cmdId`) when it returns; it resumes with a Range request. A unit verifying or installing is
 *   expected to reboot, so its disconnect changes nothing.
 */
export class Rollout {
  readonly #d: RolloutDeps
  readonly #listeners: CommandListeners
  #off: Array<() => void> = []

  constructor(deps: RolloutDeps) {
    this.#d = deps
    this.#listeners = new CommandListeners(deps.broker, deps.bus, {
      ready: () => this.pump(),
      gone: (deviceId) => this.#away(deviceId),
    })
  }

  start(): void {
    const { table, bus } = this.#d
    // No unit is connected yet: offers in flight when the gateway stopped are made again on return.
    for (const u of table.inFlight()) table.updateUnit(u, { state: 'pending' })
    this.#listeners.start()
    this.#off.push(bus.on('device.cmdAck', ({ device, ack, at }) => this.#onAck(device.id, ack, at)))
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#listeners.stop()
  }

  create(input: CampaignCreate, by: string): CampaignRow {
    const { table, registry, now } = this.#d
    const image = table.image(input.imageId)
    if (!image) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such firmware image')
    const districts = new Set(input.districts)
    const busy = table.busyDevices()
    const id = randomUUID()
    const order = (deviceId: string) => createHash('sha256').update(`${id}/${deviceId}`).digest('hex')
    const chosen = registry
      .list({})
      .filter(
        (d) =>
          d.enabled &&
          districts.has(d.district) &&
          d.model === image.model &&
          d.firmware !== image.version &&
          compareVersions(d.firmware, input.fromVersions.min) >= 0 &&
          compareVersions(d.firmware, input.fromVersions.max) <= 0 &&
          !busy.has(d.id),
      )
      .map((d) => ({ d, key: order(d.id) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    if (chosen.length === 0) throw new DoorstepError('DOORSTEP_ERR_CAMPAIGN_NO_UNITS', undefined, input)
    const n = chosen.length
    // Wave i holds the units up to its cumulative share; the canary is at least one unit.
    const bounds = [
      Math.max(1, Math.ceil((n * input.canaryPct) / 100)),
      ...input.waves.map((w) => Math.ceil((n * w) / 100)),
    ]
    const waveOf = (i: number) => {
      const w = bounds.findIndex((b) => i < b)
      return w < 0 ? bounds.length - 1 : w
    }
    const row: Omit<CampaignRow, 'wave' | 'baseline_finished' | 'baseline_failed'> = {
      id,
      name: input.name,
      image_id: image.id,
      from_min: input.fromVersions.min,
      from_max: input.fromVersions.max,
      districts: JSON.stringify([...districts].sort((a, b) => a - b)),
      canary_pct: input.canaryPct,
      waves: JSON.stringify(input.waves),
      pause_failure_pct: input.pauseFailurePct,
      pause_min_finished: input.pauseMinFinished,
      district_concurrency: input.districtConcurrency ?? this.#d.defaultConcurrency,
      state: 'draft',
      reason: null,
      created_by: by,
      created_at: now(),
      started_at: null,
      finished_at: null,
    }
    table.transaction(() => {
      table.insertCampaign(row)
      chosen.forEach(({ d }, i) => {
        table.insertUnit({
          campaign_id: id,
          device_id: d.id,
          district: d.district,
          wave: waveOf(i),
          ord: i,
          cmd_id: randomUUID(),
          state: 'pending',
          from_version: d.firmware,
        })
      })
    })
    void this.#d.audit.record({
      actor: by,
      action: 'campaign.create',
      subject: `campaign:${id}`,
      details: { name: input.name, imageId: image.id, version: image.version, units: n, canary: bounds[0] },
    })
    const created = table.campaign(id) as CampaignRow
    this.#emit(created)
    return created
  }

  /** Starts a draft: its canary is offered the update. */
  begin(id: string, by: string): CampaignRow {
    return this.#change(id, ['draft'], 'running', by, 'campaign.start', null, { started_at: this.#d.now() })
  }

  pause(id: string, by: string, reason: string | null): CampaignRow {
    return this.#change(id, ['running'], 'paused', by, 'campaign.pause', reason ?? 'paused by an admin')
  }

  resume(id: string, by: string): CampaignRow {
    // The pause rule counts afresh: what made it pause is behind the admin's decision to go on.
    const o = this.#d.table.outcomes(id)
    return this.#change(id, ['paused'], 'running', by, 'campaign.resume', null, {
      baseline_finished: o.finished,
      baseline_failed: o.failed,
    })
  }

  cancel(id: string, by: string, reason: string | null): CampaignRow {
    const { table, now } = this.#d
    const c = this.#change(id, ['draft', 'running', 'paused'], 'cancelled', by, 'campaign.cancel', reason, {
      finished_at: now(),
    })
    // Units holding an offer carry on (an install cannot be called back); the others never get one.
    table.transaction(() => {
      for (const u of table.units(id, 'pending'))
        table.updateUnit(u, { state: 'skipped', finished_at: now() })
    })
    return c
  }

  #change(
    id: string,
    from: readonly CampaignState[],
    to: CampaignState,
    by: string,
    action: string,
    reason: string | null,
    patch: Partial<CampaignRow> = {},
  ): CampaignRow {
    const { table } = this.#d
    const c = table.campaign(id)
    if (!c) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such campaign')
    if (!from.includes(c.state))
      throw new DoorstepError('DOORSTEP_ERR_CAMPAIGN_STATE', `The campaign is ${c.state}`, { state: c.state })
    table.updateCampaign(id, { state: to, reason, ...patch })
    void this.#d.audit.record({
      actor: by,
      action,
      subject: `campaign:${id}`,
      details: { from: c.state, to, reason },
    })
    const next = table.campaign(id) as CampaignRow
    this.#emit(next)
    if (to === 'running') {
      this.#advance(next)
      this.pump()
    }
    return next
  }

  /**
   * Offers what may be offered now: each waiting unit of a running campaign's open waves whose unit
   * listens and whose district has room. Synchronous (the row is marked before the publish), so calls
   * never overlap.
   */
  pump(): void {
    const { table } = this.#d
    for (const c of table.running()) {
      const image = table.image(c.image_id)
      if (!image) continue
      for (const u of table.waiting(c.id, c.wave)) {
        if (!this.#listeners.has(u.device_id) || !this.#d.broker.isConnected(u.device_id)) continue
        if (table.downloadingInDistrict(c.id, u.district) >= c.district_concurrency) continue
        this.#offer(c, u, image)
      }
    }
  }

  #offer(c: CampaignRow, u: UnitRow, image: NonNullable<ReturnType<FirmwareStore['image']>>): void {
    const { table, broker, log, now } = this.#d
    const at = now()
    const cmd = Command.parse({
      v: 1,
      ts: at,
      cmdId: u.cmd_id,
      action: 'update',
      path: downloadPathOf(image.id),
      model: image.model,
      version: image.version,
      sha256: image.sha256,
      size: image.size,
      signature: image.signature,
      keyFingerprint: image.key_fingerprint,
    })
    const sent = table.updateUnit(u, { state: 'offered', offered_at: u.offered_at ?? at, sends: u.sends + 1 })
    if (u.sends === 0) {
      void this.#d.audit.record({
        actor: GATEWAY_ACTOR,
        action: 'campaign.offer',
        subject: `campaign:${c.id}`,
        details: { deviceId: u.device_id, wave: u.wave, version: image.version },
      })
    }
    broker.publish(topicFor('cmd', u.device_id), JSON.stringify(cmd), { qos: 1 }).catch((err: Error) => {
      log.warn({ campaignId: c.id, device: u.device_id, err: err.message }, 'update command not published')
      const cur = table.unitByCmd(u.cmd_id)
      if (cur?.state === 'offered') table.updateUnit(sent, { state: 'pending' })
    })
  }

  /** The unit left: an offer it has not finished downloading waits for its return (and frees the budget). */
  #away(deviceId: string): void {
    const { table } = this.#d
    for (const u of table.ofDevice(deviceId, ['offered', 'downloading']))
      table.updateUnit(u, { state: 'pending' })
    this.pump()
  }

  #onAck(deviceId: string, ack: CommandAck, at: number): void {
    const { table, log } = this.#d
    const u = table.unitByCmd(ack.cmdId)
    if (!u) return
    if (u.device_id !== deviceId) {
      log.warn({ device: deviceId, campaignId: u.campaign_id }, 'update ack from another unit; ignored')
      return
    }
    // Never offered (a guess at a cmdId), or over: a late or repeated report changes nothing.
    if (u.sends === 0 || FINAL_UNIT.has(u.state)) return
    const state = ACK_STATE[ack.status]
    if (ack.status === 'downloading') {
      table.updateUnit(u, { state: 'downloading', bytes: Math.max(u.bytes, ack.bytes ?? 0) })
      return
    }
    if (!state || state === u.state) return
    if (!FINAL_UNIT.has(state)) {
      table.updateUnit(u, { state })
      // Past downloading, the unit no longer uses the district's budget: the next one may start.
      if (state === 'verifying' || state === 'installing') this.pump()
      return
    }
    const reason =
      state === 'done'
        ? null
        : `${ack.status === 'refused' ? 'refused: ' : ''}${ack.reason ?? 'no reason given'}`
    const done = table.updateUnit(u, { state, reason, finished_at: at })
    void this.#d.audit.record({
      actor: `device:${deviceId}`,
      action: `campaign.unit-${state}`,
      subject: `campaign:${u.campaign_id}`,
      details: { deviceId, reason, bytes: done.bytes },
    })
    this.#afterFinal(u.campaign_id)
  }

  /** After a unit finished: the pause rule, the next wave, the end of the campaign. */
  #afterFinal(campaignId: string): void {
    const { table } = this.#d
    const c = table.campaign(campaignId)
    if (!c) return
    if (c.state === 'running') {
      const o = table.outcomes(c.id)
      const finished = o.finished - c.baseline_finished
      const failed = o.failed - c.baseline_failed
      if (finished >= c.pause_min_finished && (failed * 100) / finished > c.pause_failure_pct) {
        const reason = `failure rate ${Math.round((failed * 1000) / finished) / 10}% (${failed} of ${finished} finished) is over ${c.pause_failure_pct}%`
        this.#change(c.id, ['running'], 'paused', GATEWAY_ACTOR, 'campaign.auto-pause', reason)
        return
      }
      this.#advance(c)
    }
    this.#finishIfOver(c.id)
    this.pump()
  }

  /** Opens the next wave when the open ones are through (see the class comment). */
  #advance(c: CampaignRow): void {
    const { table, broker } = this.#d
    const waves = JSON.parse(c.waves) as number[]
    let wave = c.wave
    while (wave < waves.length) {
      const open = table.units(c.id).filter((u) => u.wave <= wave)
      const through = open.every(
        (u) => FINAL_UNIT.has(u.state) || (u.state === 'pending' && !broker.isConnected(u.device_id)),
      )
      if (!through || !open.some((u) => FINAL_UNIT.has(u.state))) break
      wave++
      table.updateCampaign(c.id, { wave })
      void this.#d.audit.record({
        actor: GATEWAY_ACTOR,
        action: 'campaign.wave',
        subject: `campaign:${c.id}`,
        details: { wave, sharePct: waves[wave - 1] },
      })
    }
  }

  #finishIfOver(id: string): void {
    const { table, now } = this.#d
    const c = table.campaign(id)
    if (!c || (c.state !== 'running' && c.state !== 'cancelled')) return
    if (!table.units(id).every((u) => FINAL_UNIT.has(u.state))) return
    if (c.state === 'cancelled') return
    table.updateCampaign(id, { state: 'done', finished_at: now() })
    const counts = table.counts(id)
    void this.#d.audit.record({
      actor: GATEWAY_ACTOR,
      action: 'campaign.done',
      subject: `campaign:${id}`,
      details: { done: counts.done, failed: counts.failed, rolledBack: counts['rolled-back'] },
    })
    this.#emit(table.campaign(id) as CampaignRow)
  }

  #emit(c: CampaignRow): void {
    this.#d.bus.emit('campaign.changed', {
      campaignId: c.id,
      name: c.name,
      state: c.state,
      reason: c.reason,
      districts: JSON.parse(c.districts) as number[],
      at: this.#d.now(),
    })
  }
}
