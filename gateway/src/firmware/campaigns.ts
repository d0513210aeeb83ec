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
import { InLine } from '../in-line.js'
import type { Logger } from '../log.js'
import { type CommandChannel, CommandListeners } from '../mqtt/index.js'
import type { DeviceRegistry } from '../registry/index.js'
import { SerialPass } from '../serial-pass.js'
import {
  type CampaignRow,
  FINAL_UNIT,
  type FirmwareStore,
  type ImageRow,
  type UnitRow,
} from './firmware-store.js'

export interface RolloutDeps {
  table: FirmwareStore
  registry: Pick<DeviceRegistry, 'list' | 'get'>
  broker: CommandChannel
  audit: Pick<AuditLog, 'record'>
  bus: EventBus
  log: Logger
  defaultConcurrency: number
  /**
   * Whether the unit is connected to another gateway, as the cluster last heard (shared presence):
   * that gateway makes its offers. Always false for a gateway on its own.
   */
  elsewhere: (deviceId: string) => boolean
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

/** States a unit's report may move on from. */
const NOT_FINAL: readonly UnitUpdateState[] = ['pending', 'offered', 'downloading', 'verifying', 'installing']

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
 *   campaign pauses itself and says why. Paused, no new offers go out; units holding one carry on and
 *   are counted.
 * - Budget: at most `districtConcurrency` units of one district hold an offer they have not finished
 *   downloading (`offered`, `downloading`), like the pulls' district budget, across every gateway
 *   sharing the tables.
 * - Delivery: offers go only to units connected and listening on `cam/{id}/cmd`, from the gateway they
 *   are connected to. A unit that drops mid-download goes back to `pending` (freeing the budget) and is
 *   offered the same command (same `cmdId`) when it returns, to whichever gateway; it resumes with a
 *   Range request. A unit verifying or installing is expected to reboot, so its disconnect changes
 *   nothing.
 * - Several gateways: each step is a conditional update (an offer claims a pending row; a wave opens
 *   from the wave it saw; a campaign ends or pauses from `running`), so when two gateways decide the
 *   same step at once one of them makes it, and it is on the audit log once.
 */
export class Rollout {
  readonly #d: RolloutDeps
  readonly #listeners: CommandListeners
  readonly #pump: SerialPass
  #off: Array<() => void> = []
  #acks: Promise<void> = Promise.resolve()
  /** What units leaving ask of the rollout's table, one at a time, in arrival order (`in-line.ts`). */
  readonly #units: InLine

  constructor(deps: RolloutDeps) {
    this.#d = deps
    this.#pump = new SerialPass(
      () => this.#pass(),
      (err) => deps.log.error({ err }, 'firmware offers not made; the next change tries again'),
    )
    this.#units = new InLine((err, deviceId) =>
      deps.log.error({ err, device: deviceId }, 'update state not updated'),
    )
    this.#listeners = new CommandListeners(deps.broker, deps.bus, {
      ready: () => this.pump(),
      gone: (deviceId) => this.#units.add(() => this.#away(deviceId), deviceId),
    })
  }

  async start(): Promise<void> {
    const { table, bus } = this.#d
    // No unit is connected yet: offers in flight when the gateway stopped are made again on return.
    for (const u of await table.inFlight())
      await table.updateUnit(u, { state: 'pending' }, ['offered', 'downloading'])
    this.#listeners.start()
    this.#off.push(
      // One report at a time, in arrival order: each sees what the one before it did.
      bus.on('device.cmdAck', ({ device, ack, at }) => {
        this.#acks = this.#acks
          .then(() => this.#onAck(device.id, ack, at))
          .catch((err: Error) =>
            this.#d.log.error({ err, device: device.id, cmdId: ack.cmdId }, 'update report not recorded'),
          )
      }),
    )
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#listeners.stop()
    this.#pump.stop()
    this.#units.stop()
  }

  /** Resolves when the reports received and the pass under way (and those it asked for) are done. */
  async settled(): Promise<void> {
    await this.#acks
    await this.#pump.settled()
  }

  async create(input: CampaignCreate, by: string): Promise<CampaignRow> {
    const { table, registry, now } = this.#d
    const image = await table.image(input.imageId)
    if (!image) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such firmware image')
    const districts = new Set(input.districts)
    const busy = await table.busyDevices()
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
    await table.transaction(async (t) => {
      await t.insertCampaign({
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
      })
      await t.insertUnits(
        chosen.map(({ d }, i) => ({
          campaign_id: id,
          device_id: d.id,
          district: d.district,
          wave: waveOf(i),
          ord: i,
          cmd_id: randomUUID(),
          state: 'pending' as const,
          from_version: d.firmware,
        })),
      )
    })
    await this.#d.audit.record({
      actor: by,
      action: 'campaign.create',
      subject: `campaign:${id}`,
      details: { name: input.name, imageId: image.id, version: image.version, units: n, canary: bounds[0] },
    })
    const created = (await table.campaign(id)) as CampaignRow
    this.#emit(created)
    return created
  }

  /** Starts a draft: its canary is offered the update. */
  begin(id: string, by: string): Promise<CampaignRow> {
    return this.#change(id, ['draft'], 'running', by, 'campaign.start', null, { started_at: this.#d.now() })
  }

  pause(id: string, by: string, reason: string | null): Promise<CampaignRow> {
    return this.#change(id, ['running'], 'paused', by, 'campaign.pause', reason ?? 'paused by an admin')
  }

  async resume(id: string, by: string): Promise<CampaignRow> {
    // The pause rule counts afresh: what made it pause is behind the admin's decision to go on.
    const o = await this.#d.table.outcomes(id)
    return this.#change(id, ['paused'], 'running', by, 'campaign.resume', null, {
      baseline_finished: o.finished,
      baseline_failed: o.failed,
    })
  }

  async cancel(id: string, by: string, reason: string | null): Promise<CampaignRow> {
    const { table, now } = this.#d
    const c = await this.#change(
      id,
      ['draft', 'running', 'paused'],
      'cancelled',
      by,
      'campaign.cancel',
      reason,
      {
        finished_at: now(),
      },
    )
    // Units holding an offer carry on (an install cannot be called back); the others never get one.
    await table.transaction(async (t) => {
      for (const u of await t.units(id, 'pending'))
        await t.updateUnit(u, { state: 'skipped', finished_at: now() }, ['pending'])
    })
    return c
  }

  async #change(
    id: string,
    from: readonly CampaignState[],
    to: CampaignState,
    by: string,
    action: string,
    reason: string | null,
    patch: Partial<CampaignRow> = {},
  ): Promise<CampaignRow> {
    const { table } = this.#d
    const c = await table.campaign(id)
    if (!c) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such campaign')
    const changed =
      from.includes(c.state) && (await table.updateCampaign(id, { state: to, reason, ...patch }, { from }))
    if (!changed) {
      // Moved meanwhile (another admin, another gateway): say what it is now.
      const state = (await table.campaign(id))?.state ?? c.state
      throw new DoorstepError('DOORSTEP_ERR_CAMPAIGN_STATE', `The campaign is ${state}`, { state })
    }
    await this.#d.audit.record({
      actor: by,
      action,
      subject: `campaign:${id}`,
      details: { from: c.state, to, reason },
    })
    const next = (await table.campaign(id)) as CampaignRow
    this.#emit(next)
    if (to === 'running') {
      await this.#advance(next)
      this.pump()
    }
    return next
  }

  /**
   * Offers what may be offered now: each waiting unit of a running campaign's open waves whose unit
   * listens here and whose district has room. One pass at a time: a call while one runs asks for
   * another pass after it, so a change that came in meanwhile is seen. Each offer claims its row first
   * (`claimOffer`), so a unit is offered once even when another gateway's pass looks at it too.
   */
  pump(): void {
    this.#pump.run()
  }

  async #pass(): Promise<void> {
    const { table, broker } = this.#d
    for (const c of await table.running()) {
      const image = await table.image(c.image_id)
      if (!image) continue
      for (const u of await table.waiting(c.id, c.wave)) {
        if (this.#pump.stopped) return
        if (!this.#listeners.has(u.device_id) || !broker.isConnected(u.device_id)) continue
        // A first look, without the lock; the claim checks again under it.
        if ((await table.downloadingInDistrict(c.id, u.district)) >= c.district_concurrency) continue
        await this.#offer(c, u, image)
      }
    }
  }

  async #offer(c: CampaignRow, u: UnitRow, image: ImageRow): Promise<void> {
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
    const sent = await table.transaction((t) => t.claimOffer(u, at))
    if (!sent) return
    if (u.sends === 0) {
      await this.#d.audit.record({
        actor: GATEWAY_ACTOR,
        action: 'campaign.offer',
        subject: `campaign:${c.id}`,
        details: { deviceId: u.device_id, wave: u.wave, version: image.version },
      })
    }
    broker
      .publish(topicFor('cmd', u.device_id), JSON.stringify(cmd), { qos: 1 })
      .catch(async (err: Error) => {
        log.warn({ campaignId: c.id, device: u.device_id, err: err.message }, 'update command not published')
        await table.updateUnit(sent, { state: 'pending' }, ['offered']).catch(() => undefined)
      })
  }

  /** The unit left: an offer it has not finished downloading waits for its return (and frees the budget). */
  async #away(deviceId: string): Promise<void> {
    const { table } = this.#d
    for (const u of await table.ofDevice(deviceId, ['offered', 'downloading']))
      await table.updateUnit(u, { state: 'pending' }, ['offered', 'downloading'])
    this.pump()
  }

  async #onAck(deviceId: string, ack: CommandAck, at: number): Promise<void> {
    const { table, log } = this.#d
    const u = await table.unitByCmd(ack.cmdId)
    if (!u) return
    if (u.device_id !== deviceId) {
      log.warn({ device: deviceId, campaignId: u.campaign_id }, 'update ack from another unit; ignored')
      return
    }
    // Never offered (a guess at a cmdId), or over: a late or repeated report changes nothing.
    if (u.sends === 0 || FINAL_UNIT.has(u.state)) return
    const state = ACK_STATE[ack.status]
    if (ack.status === 'downloading') {
      await table.updateUnit(u, { state: 'downloading', bytes: Math.max(u.bytes, ack.bytes ?? 0) }, NOT_FINAL)
      return
    }
    if (!state || state === u.state) return
    if (!FINAL_UNIT.has(state)) {
      await table.updateUnit(u, { state }, NOT_FINAL)
      // Past downloading, the unit no longer uses the district's budget: the next one may start.
      if (state === 'verifying' || state === 'installing') this.pump()
      return
    }
    const reason =
      state === 'done'
        ? null
        : `${ack.status === 'refused' ? 'refused: ' : ''}${ack.reason ?? 'no reason given'}`
    const done = await table.updateUnit(u, { state, reason, finished_at: at }, NOT_FINAL)
    if (!done) return
    await this.#d.audit.record({
      actor: `device:${deviceId}`,
      action: `campaign.unit-${state}`,
      subject: `campaign:${u.campaign_id}`,
      details: { deviceId, reason, bytes: done.bytes },
    })
    await this.#afterFinal(u.campaign_id)
  }

  /** After a unit finished: the pause rule, the next wave, the end of the campaign. */
  async #afterFinal(campaignId: string): Promise<void> {
    const { table } = this.#d
    const c = await table.campaign(campaignId)
    if (!c) return
    if (c.state === 'running') {
      const o = await table.outcomes(c.id)
      const finished = o.finished - c.baseline_finished
      const failed = o.failed - c.baseline_failed
      if (finished >= c.pause_min_finished && (failed * 100) / finished > c.pause_failure_pct) {
        const reason = `failure rate ${Math.round((failed * 1000) / finished) / 10}% (${failed} of ${finished} finished) is over ${c.pause_failure_pct}%`
        await this.#change(c.id, ['running'], 'paused', GATEWAY_ACTOR, 'campaign.auto-pause', reason).catch(
          (err: unknown) => {
            // Paused or cancelled meanwhile (an admin, another gateway): nothing left to do.
            if (!(err instanceof DoorstepError && err.code === 'DOORSTEP_ERR_CAMPAIGN_STATE')) throw err
          },
        )
        return
      }
      await this.#advance(c)
    }
    await this.#finishIfOver(c.id)
    this.pump()
  }

  /** Whether the unit is connected to a gateway: this one, or another as the cluster last heard. */
  #connected(deviceId: string): boolean {
    return this.#d.broker.isConnected(deviceId) || this.#d.elsewhere(deviceId)
  }

  /** Opens the next wave when the open ones are through (see the class comment). */
  async #advance(c: CampaignRow): Promise<void> {
    const { table } = this.#d
    const waves = JSON.parse(c.waves) as number[]
    if (c.wave >= waves.length) return
    const units = await table.units(c.id)
    let wave = c.wave
    while (wave < waves.length) {
      const open = units.filter((u) => u.wave <= wave)
      const through = open.every(
        (u) => FINAL_UNIT.has(u.state) || (u.state === 'pending' && !this.#connected(u.device_id)),
      )
      if (!through || !open.some((u) => FINAL_UNIT.has(u.state))) break
      // From the wave this gateway saw: another that opened it first has said so already.
      if (!(await table.updateCampaign(c.id, { wave: wave + 1 }, { wave }))) break
      wave++
      await this.#d.audit.record({
        actor: GATEWAY_ACTOR,
        action: 'campaign.wave',
        subject: `campaign:${c.id}`,
        details: { wave, sharePct: waves[wave - 1] },
      })
    }
  }

  async #finishIfOver(id: string): Promise<void> {
    const { table, now } = this.#d
    const c = await table.campaign(id)
    if (c?.state !== 'running') return
    if (!(await table.units(id)).every((u) => FINAL_UNIT.has(u.state))) return
    if (!(await table.updateCampaign(id, { state: 'done', finished_at: now() }, { from: ['running'] })))
      return
    const counts = await table.counts(id)
    await this.#d.audit.record({
      actor: GATEWAY_ACTOR,
      action: 'campaign.done',
      subject: `campaign:${id}`,
      details: { done: counts.done, failed: counts.failed, rolledBack: counts['rolled-back'] },
    })
    this.#emit((await table.campaign(id)) as CampaignRow)
  }

  /** Tells this gateway's listeners of a campaign change it made (another gateway's: `Firmware`). */
  #emit(c: CampaignRow, elsewhere = false): void {
    this.#d.bus.emit('campaign.changed', {
      campaignId: c.id,
      name: c.name,
      state: c.state,
      reason: c.reason,
      districts: JSON.parse(c.districts) as number[],
      at: this.#d.now(),
      ...(elsewhere ? { elsewhere } : {}),
    })
  }

  /** Another gateway changed a campaign: its state goes to this gateway's dashboards; offers may go out. */
  heard(c: CampaignRow): void {
    this.#emit(c, true)
    if (c.state === 'running') this.pump()
  }
}
