import { randomUUID } from 'node:crypto'
import path from 'node:path'
import type {
  CaseCreate,
  CaseDetail,
  CasePreview,
  CasePreviewQuery,
  CaseView,
  PullsCreate,
  PullView,
} from '@doorstep/proto'
import type { AuditLog } from '../audit/index.js'
import type { Clips } from '../clips/index.js'
import { ClipStore } from '../clips/index.js'
import type { Config } from '../config.js'
import type { SharedDb } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import type { EventIndex, EventReader, IndexedEvent } from '../events/index.js'
import { eventView, localReader } from '../events/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { WorkQueue } from '../media/index.js'
import type { CommandChannel } from '../mqtt/index.js'
import type { DeviceRegistry } from '../registry/index.js'
import { CLUSTER_WRITER_LEASE_MS, ResumableUploads } from '../uploads/index.js'
import { matchArea } from './area.js'
import { CaseHolds } from './case-holds.js'
import { CaseStore } from './case-store.js'
import { Consent } from './consent.js'
import { CustodyLog } from './custody.js'
import type { ManifestSigner } from './export.js'
import { GATEWAY_ACTOR, PullDispatch } from './pull-dispatch.js'
import { FINAL_STATES, type PullRow } from './pull-table.js'
import { type PullUploads, PullUploadTarget } from './pull-uploads.js'

export interface CasesDeps {
  config: Config
  /** Where the cases tables live: the gateway's SQLite file, or the database the gateways share. */
  shared: SharedDb
  bus: EventBus
  log: Logger
  registry: DeviceRegistry
  broker: CommandChannel
  /** A getter: the events feature makes its index in its own `start()`. */
  events: () => EventIndex
  /**
   * Where a case's page and preview read events: every gateway's when they share PostgreSQL (holds and
   * exports stay with this gateway's index, whose clips are on its disk). This gateway's index if unset.
   */
  reader?: () => EventReader
  clips: Pick<Clips, 'hold' | 'release' | 'holds' | 'clipFile' | 'thumbFile' | 'mediaOf'>
  audit: AuditLog
  /** Signs each export's manifest: the gateway's evidence key. */
  signer: ManifestSigner
  /** Whether a unit is connected to another gateway of the cluster (shared presence); none by default. */
  connectedElsewhere?: (deviceId: string) => boolean
  now?: () => number
}

/** What `start()` makes and `stop()` ends. */
interface Running {
  table: CaseStore
  custody: CustodyLog
  /** Where pulled recordings are stored (content-addressed, like clips). */
  store: ClipStore
  media: WorkQueue
  dispatch: PullDispatch
  uploads: PullUploads
  pullTarget: PullUploadTarget
  consent: Consent
  caseHolds: CaseHolds
}

/**
 * The investigators' feature: cases over an area and a time window, holds on
 * the events in them, pulls of recordings from units (consent, budget,
 * delivery to units that were away, resumable uploads), the custody log and
 * the evidence export (see export.ts). Routes: routes.ts, consent-routes.ts.
 */
export class Cases implements Feature {
  readonly name = 'cases'
  readonly #d: CasesDeps
  readonly #log: Logger
  readonly #now: () => number
  #run: Running | null = null
  /** Units in some open case: only their events need a look on the MQTT path. */
  #watched = new Set<string>()
  #off: (() => void) | null = null

  constructor(deps: CasesDeps) {
    this.#d = deps
    this.#log = deps.log.child({ feature: 'cases' })
    this.#now = deps.now ?? Date.now
  }

  async start(): Promise<void> {
    const d = this.#d
    const table = new CaseStore(d.shared, this.#log)
    await table.load()
    // Live progress for the dashboard's case page: a hint on the bus, never the only record.
    table.onPullChange = (r) => {
      d.bus.emit('pull.changed', {
        pullId: r.id,
        caseId: r.case_id,
        deviceId: r.device_id,
        district: r.district,
        state: r.state,
        bytes: r.bytes,
        total: r.total,
        reason: r.reason,
      })
      // Another gateway's change may let this one send (a new pull, an approval, a freed slot).
      if (table.shared && (r.state === 'pending' || r.state === 'offline' || FINAL_STATES.has(r.state))) {
        this.#run?.dispatch.pump()
      }
    }
    table.onCaseChange = (notice) => {
      d.bus.emit('case.changed', notice)
      if (table.shared) this.#rewatch()
    }
    // Notices missed while the shared database was away: look at everything again.
    table.onResync = () => {
      this.#rewatch()
      this.#run?.dispatch.pump()
    }
    const custody = new CustodyLog(d.shared, this.#now)
    const store = new ClipStore(path.join(d.config.sharedDir, 'pulls'))
    await store.init()
    const media = new WorkQueue({ concurrency: 1, maxQueued: 32 })
    const dispatch = new PullDispatch({
      table,
      custody,
      audit: d.audit,
      bus: d.bus,
      broker: d.broker,
      log: this.#log,
      districtConcurrency: d.config.cases.pullDistrictConcurrency,
      elsewhere: d.connectedElsewhere ?? (() => false),
      now: this.#now,
    })
    const pullTarget = new PullUploadTarget({
      store,
      table,
      media,
      mediaTimeoutMs: d.config.media.timeoutMs,
      log: this.#log,
      leases: table.shared
        ? table.pulls.writerLeases(d.config.cluster.nodeId, this.#now, CLUSTER_WRITER_LEASE_MS)
        : null,
      onProgress: async (p, received) => {
        const state = p.state === 'pending' || p.state === 'offline' ? 'uploading' : p.state
        await table.pulls.update(p.id, { bytes: received, state })
      },
      onStored: (pullId, sha256, bytes, m) => this.#stored(pullId, sha256, bytes, m.durationMs),
      onRejected: async (pullId, reason) => {
        const p = await table.pulls.get(pullId)
        if (!p || FINAL_STATES.has(p.state)) return
        await table.transaction(async (t) => {
          await t.pulls.update(pullId, { state: 'failed', reason, finished_at: this.#now(), bytes: 0 })
          await custody.append(p.case_id, GATEWAY_ACTOR, 'pull.failed', { pullId, reason }, t.db)
        })
        dispatch.pump()
      },
    })
    const uploads: PullUploads = new ResumableUploads({
      target: pullTarget,
      files: store,
      media,
      log: this.#log,
      maxBytes: d.config.clips.maxBytes,
      mediaTimeoutMs: d.config.media.timeoutMs,
    })
    const consent = new Consent({
      table,
      custody,
      audit: d.audit,
      registry: d.registry,
      dispatch,
      now: this.#now,
    })
    const caseHolds = new CaseHolds({
      table,
      custody,
      audit: d.audit,
      events: d.events,
      reader: d.reader ?? (() => localReader(d.events)),
      clips: d.clips,
      log: this.#log,
    })
    this.#run = { table, custody, store, media, dispatch, uploads, pullTarget, consent, caseHolds }
    await pullTarget.recover()
    this.#watched = new Set(await table.cases.devicesInOpen())
    // After the events feature's listener (it started first): the index already has the event.
    this.#off = d.bus.on('device.event', ({ device, event }) => {
      if (this.#watched.has(device.id)) void this.#run?.caseHolds.onEvent(device.id, event.eventId)
    })
    await dispatch.start()
    dispatch.pump()
  }

  async stop(): Promise<void> {
    this.#off?.()
    this.#off = null
    const run = this.#run
    if (!run) return
    run.table.onPullChange = null
    run.table.onCaseChange = null
    run.table.onResync = null
    run.dispatch.stop()
    await run.dispatch.settled()
    await run.uploads.close()
    await run.pullTarget.thumbsDone()
    await run.media.close()
    this.#run = null
  }

  get signer(): ManifestSigner {
    return this.#d.signer
  }

  get table(): CaseStore {
    return this.#running().table
  }
  get custody(): CustodyLog {
    return this.#running().custody
  }
  get uploads(): PullUploads {
    return this.#running().uploads
  }
  get consent(): Consent {
    return this.#running().consent
  }
  /** Where pulled recordings are stored (content-addressed, like clips). */
  get store(): ClipStore {
    return this.#running().store
  }
  get clips(): CasesDeps['clips'] {
    return this.#d.clips
  }
  get registry(): DeviceRegistry {
    return this.#d.registry
  }

  /** Resolves when thumbnails and uploads in progress are done (tests). */
  async idle(): Promise<void> {
    const run = this.#run
    if (!run) return
    await run.uploads.settled()
    await run.pullTarget.thumbsDone()
    await run.media.drain()
    await run.dispatch.settled()
    await run.caseHolds.settled()
  }

  // ---- cases --------------------------------------------------------------------------------

  async create(body: CaseCreate, actor: string): Promise<CaseDetail> {
    const table = this.table
    if (await table.cases.numberTaken(body.number)) {
      throw new DoorstepError('DOORSTEP_ERR_CASE_EXISTS', `Case ${body.number} already exists`)
    }
    const matched = matchArea(this.#d.registry, body.area)
    const c: CaseView = {
      id: randomUUID(),
      number: body.number,
      reason: body.reason,
      from: body.from,
      to: body.to,
      area: body.area,
      state: 'open',
      createdBy: actor,
      createdAt: this.#now(),
      closedAt: null,
      closedBy: null,
    }
    await table.transaction(async (t) => {
      await t.cases.insert(
        c,
        matched.map((m) => ({
          device_id: m.device.id,
          district: m.device.district,
          distance_m: m.distanceM,
        })),
      )
      await this.custody.append(
        c.id,
        actor,
        'case.created',
        {
          number: c.number,
          reason: c.reason,
          from: c.from,
          to: c.to,
          area: c.area,
          devices: matched.map((m) => m.device.id),
        },
        t.db,
      )
      // The release policy set at installation is the consent of `always` units; it goes on record now.
      for (const m of matched) {
        if (m.device.releasePolicy !== 'always') continue
        const consent = await t.consents.insert({
          caseId: c.id,
          deviceId: m.device.id,
          pullId: null,
          basis: 'policy-always',
          granted: true,
          decidedBy: 'release policy set at installation',
          decidedAt: c.createdAt,
        })
        await this.custody.append(
          c.id,
          GATEWAY_ACTOR,
          'consent.recorded',
          { deviceId: m.device.id, consentId: consent.id, basis: consent.basis },
          t.db,
        )
      }
      await this.#d.audit.append(
        {
          actor,
          action: 'case.create',
          subject: `case:${c.id}`,
          details: { number: c.number, devices: matched.length },
        },
        t.db,
      )
    })
    for (const m of matched) this.#watched.add(m.device.id)
    table.caseChanged({ caseId: c.id, number: c.number, state: 'open' })
    await this.#holds().holdAll(c, actor)
    return this.detail(c.id)
  }

  async get(id: string): Promise<CaseView> {
    const c = await this.table.cases.get(id)
    if (!c) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No case ${id}`)
    return c
  }

  list(state?: 'open' | 'closed'): Promise<CaseView[]> {
    return this.table.cases.list(state)
  }

  async detail(id: string): Promise<CaseDetail> {
    const c = await this.get(id)
    const table = this.table
    const rows = await table.cases.devices(id)
    const devices: CaseDetail['devices'] = []
    for (const row of rows) {
      const dev = this.#d.registry.get(row.device_id)
      if (!dev) continue
      const pull = await table.pulls.latest(id, row.device_id)
      devices.push({
        id: dev.id,
        district: dev.district,
        address: dev.address,
        lat: dev.lat,
        lon: dev.lon,
        distanceM: row.distance_m,
        releasePolicy: dev.releasePolicy,
        consent: await table.consents.current(id, dev.id),
        pull: pull ? await table.pulls.view(pull) : null,
      })
    }
    const events = (
      await this.#holds().listEvents(
        c,
        rows.map((row) => row.device_id),
      )
    ).map(eventView)
    return { case: c, devices, events, holds: await this.#holds().holdsOf(id) }
  }

  /**
   * What a case with this window and area would cover, before anyone opens it: the units (by release
   * policy, and how many are online) and their events in the window, the same match `create` makes.
   */
  async preview(q: CasePreviewQuery): Promise<CasePreview> {
    const matched = matchArea(this.#d.registry, q.area)
    const out: CasePreview = {
      devices: matched.length,
      byPolicy: { always: 0, ask: 0, never: 0 },
      online: 0,
      events: 0,
      withClip: 0,
    }
    for (const { device } of matched) {
      out.byPolicy[device.releasePolicy]++
      if (this.#d.broker.isConnected(device.id)) out.online++
    }
    for (const e of await this.#holds().listEvents(
      q,
      matched.map((m) => m.device.id),
    )) {
      out.events++
      if (e.clip.state === 'ready') out.withClip++
    }
    return out
  }

  /** Events of a unit that overlap the case window, newest first. */
  eventsInWindow(c: Pick<CaseView, 'from' | 'to'>, deviceId: string): Promise<IndexedEvent[]> {
    return this.#holds().eventsInWindow(c, deviceId)
  }

  /**
   * Ends a case: its holds are released (retention applies again), pulls
   * still under way end as failed. The records stay.
   */
  async close(id: string, actor: string): Promise<CaseView> {
    const c = await this.#open(id)
    const table = this.table
    const at = this.#now()
    for (const p of await table.pulls.ofCase(id)) {
      if (FINAL_STATES.has(p.state)) continue
      await table.transaction(async (t) => {
        await t.pulls.update(p.id, { state: 'failed', reason: 'the case was closed', finished_at: at })
        await this.custody.append(id, actor, 'pull.cancelled', { pullId: p.id, deviceId: p.device_id }, t.db)
      })
    }
    await this.#holds().releaseAll(id, actor)
    await table.transaction(async (t) => {
      await t.cases.close(id, actor, at)
      await this.custody.append(id, actor, 'case.closed', {}, t.db)
      await this.#d.audit.append(
        { actor, action: 'case.close', subject: `case:${id}`, details: { number: c.number } },
        t.db,
      )
    })
    this.#watched = new Set(await table.cases.devicesInOpen())
    table.caseChanged({ caseId: id, number: c.number, state: 'closed' })
    this.#run?.dispatch.pump()
    return this.get(id)
  }

  // ---- pulls --------------------------------------------------------------------------------

  /**
   * Asks units of the case for their recording of the window. Units that
   * already have a pull under way or done are left as they are; a pull that
   * failed or that the unit refused is asked again (a new command id).
   */
  async requestPulls(caseId: string, body: PullsCreate, actor: string): Promise<PullView[]> {
    const c = await this.#open(caseId)
    const table = this.table
    const inCase = new Set((await table.cases.devices(caseId)).map((r) => r.device_id))
    const ids = body.devices ?? [...inCase]
    const outside = ids.filter((id) => !inCase.has(id))
    if (outside.length > 0) {
      throw new DoorstepError(
        'DOORSTEP_ERR_BAD_REQUEST',
        `devices: not in this case: ${outside.join(', ')}`,
        {
          outside,
        },
      )
    }
    const out: string[] = []
    for (const deviceId of new Set(ids)) {
      const last = await table.pulls.latest(caseId, deviceId)
      const retry =
        last && (last.state === 'failed' || (last.state === 'refused' && last.reason?.startsWith('unit')))
      if (last && !retry) {
        out.push(last.id)
        continue
      }
      const p = await this.consent.newPull(c, deviceId, actor)
      out.push(p.id)
    }
    const dispatch = this.#run?.dispatch
    dispatch?.pump()
    // The answer shows what the pass just made of them (sent, or waiting for an away unit).
    await dispatch?.settled()
    const views: PullView[] = []
    for (const id of out) {
      const p = await table.pulls.get(id)
      if (p) views.push(await table.pulls.view(p))
    }
    return views
  }

  async pullsOf(caseId: string): Promise<PullView[]> {
    await this.get(caseId)
    const views: PullView[] = []
    for (const p of await this.table.pulls.ofCase(caseId)) views.push(await this.table.pulls.view(p))
    return views
  }

  async pull(id: string): Promise<PullView> {
    const p = await this.table.pulls.get(id)
    if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${id}`)
    return this.table.pulls.view(p)
  }

  /** Stored recording of a pull, for review and the export. */
  async recordingFile(
    id: string,
  ): Promise<{ path: string; size: number; mime: string; sha256: string; pull: PullRow }> {
    const p = await this.table.pulls.get(id)
    if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${id}`)
    const view = await this.table.pulls.view(p)
    if (!view.recording)
      throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `Pull ${id} has no stored recording (${p.state})`)
    return {
      path: this.store.clipPath(view.recording.sha256),
      size: view.recording.bytes,
      mime: view.recording.mime,
      sha256: view.recording.sha256,
      pull: p,
    }
  }

  /** Holds the case's events that have no hold yet (before an export: events that arrived late). */
  async refreshHolds(caseId: string, actor: string): Promise<void> {
    const c = await this.get(caseId)
    if (c.state === 'open') await this.#holds().holdAll(c, actor)
  }

  /** A pulled recording is stored: the pull is done, on record, and its slot goes to the next. */
  async #stored(pullId: string, sha256: string, bytes: number, durationMs: number): Promise<void> {
    const table = this.table
    const p = await table.pulls.get(pullId)
    if (!p) return
    const at = this.#now()
    await table.transaction(async (t) => {
      await t.pulls.update(pullId, { state: 'done', bytes, stored_at: at, finished_at: at, reason: null })
      await this.custody.append(
        p.case_id,
        `device:${p.device_id}`,
        'pull.stored',
        { pullId, sha256, bytes, durationMs },
        t.db,
      )
    })
    await this.#d.audit.record({
      actor: `device:${p.device_id}`,
      action: 'pull.stored',
      subject: `pull:${pullId}`,
      details: { caseId: p.case_id, sha256, bytes },
    })
    this.#run?.dispatch.pump()
  }

  /** Units in open cases, read again (a case opened or closed through another gateway). */
  #rewatch(): void {
    const run = this.#run
    if (!run) return
    run.table.cases.devicesInOpen().then(
      (ids) => {
        if (this.#run === run) this.#watched = new Set(ids)
      },
      (err: Error) => this.#log.warn({ err: err.message }, 'units of open cases not reread'),
    )
  }

  #holds(): CaseHolds {
    return this.#running().caseHolds
  }

  #running(): Running {
    if (!this.#run) throw new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN')
    return this.#run
  }

  async #open(id: string): Promise<CaseView> {
    const c = await this.get(id)
    if (c.state !== 'open') throw new DoorstepError('DOORSTEP_ERR_CASE_CLOSED', `Case ${c.number} is closed`)
    return c
  }
}
