import type { EventKind } from '@doorstep/proto'
import { z } from 'zod'
import { DEFAULT_BACKOFF } from './backoff.js'
import { type ClipFile, ensureClips } from './clips.js'
import { ensureCredentials } from './credentials.js'
import { DEFAULT_FAULTS, type FaultOptions } from './faults.js'
import { type FirmwareFaults, FirmwareUpdater } from './firmware.js'
import { DEFAULT_SEED, type PlannedUnit, planFleet } from './fleet-plan.js'
import { Scheduler, type Task } from './scheduler.js'
import { parseSourceNet, SourceNetText } from './source-address.js'
import { causeOf, copyStats, countError, type FleetStats, newStats } from './stats.js'
import { SimUnit, type UnitEnv } from './unit.js'
import { type ClipUploader, createLimiter, HttpClipUploader } from './uploader.js'

/** Options of a simulated fleet; everything but `devices` and `mqttUrl` has a default. */
export interface FleetOptions {
  /** Number of units. */
  devices: number
  /**
   * MQTT broker URL, e.g. mqtt://127.0.0.1:1883, or several gateways' URLs: unit i connects to URL
   * i mod n first and tries the next in the list after a connect that fails.
   */
  mqttUrl: string | readonly string[]
  /** Gateway HTTP base URL: provisioning and (default) clip uploads. */
  httpUrl?: string
  /** Admin or ops bearer token, for provisioning. Never logged. */
  adminToken?: string
  /** Ready-made secrets by device id: skips provisioning (tests against a bare broker). */
  secrets?: ReadonlyMap<string, string>
  /** Directory of the credentials file; default `.doorstep-sim`. */
  credentialsDir?: string
  seed?: number
  /** Device id prefix; default `cam-`. */
  idPrefix?: string
  /** Mean heartbeat interval, s; default 30. */
  heartbeatS?: number
  /** Heartbeat interval spread, ±share; default 0.1. */
  heartbeatJitter?: number
  /** Multiplier on detection rates; default 1, 0 turns events off. */
  eventRate?: number
  /** Units started per second during ramp-up; default 200. */
  connectRate?: number
  /** Reconnect backoff (full jitter), ms. */
  backoff?: { baseMs?: number; capMs?: number }
  connectTimeoutMs?: number
  /**
   * A loopback block (e.g. `127.16.0.0/12`) the units' connections leave from, one address per unit in
   * turn: past about 28,000 units on one gateway port, 127.0.0.1 alone runs out of ephemeral ports.
   */
  sourceNet?: string
  keepaliveS?: number
  faults?: Partial<FaultOptions>
  /** Clips to announce and upload; default: made with ffmpeg into `clipCacheDir`. */
  clips?: readonly ClipFile[]
  clipCacheDir?: string
  /** Default: the HTTP uploader when `httpUrl` is set, else none. `null`: none. */
  uploader?: ClipUploader | null
  /** Injected failures of firmware updates (needs `httpUrl`: units download images from it). */
  firmwareFaults?: Partial<FirmwareFaults>
  /** Upload every event's clip after `end`; default false (clips go up on `pull`). */
  uploadOnEnd?: boolean
  /** Concurrent uploads across the fleet; default 4. */
  uploadConcurrency?: number
  /** Scheduler tasks per event-loop turn; default 500. */
  maxTasksPerTick?: number
  /** Event publish times kept for alert latency; default 50,000. */
  eventTimesKept?: number
  /** Progress and problems, one line each. Secrets never reach it. */
  log?: (line: string) => void
}

const MqttUrl = z.string().regex(/^mqtts?:\/\/|^tcp:\/\//, 'must be an mqtt:// URL')
const OptionsSchema = z.object({
  devices: z.number().int().min(1).max(100_000),
  mqttUrl: z.union([MqttUrl, z.array(MqttUrl).min(1).max(1000)]),
  httpUrl: z.url({ protocol: /^https?$/ }).optional(),
  seed: z.number().int().nonnegative().optional(),
  idPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, "-" or "_"')
    .optional(),
  heartbeatS: z.number().positive().max(3600).optional(),
  heartbeatJitter: z.number().min(0).max(0.9).optional(),
  eventRate: z.number().min(0).max(100_000).optional(),
  connectRate: z.number().positive().max(100_000).optional(),
  uploadConcurrency: z.number().int().min(1).max(256).optional(),
  sourceNet: SourceNetText.optional(),
  faults: z
    .object({
      badRate: z.number().min(0).max(1),
      disconnectsPerHour: z.number().min(0).max(3600),
      clockSkewShare: z.number().min(0).max(1),
      clockSkewMaxMs: z.number().min(0),
      slowShare: z.number().min(0).max(1),
      slowDelayMs: z.number().min(0).max(60_000),
      slowBytesPerS: z.number().positive(),
      configRefuseShare: z.number().min(0).max(1),
    })
    .partial()
    .optional(),
})

export interface PowerCutOptions {
  /** How long the power stays off, ms; default 5000. */
  outageMs?: number
}

export interface Fleet {
  readonly plan: readonly PlannedUnit[]
  /** Where the secrets are kept, when they came from the gateway. */
  readonly credentialsFile: string | null
  /** A copy of the counters. */
  stats(): FleetStats
  /** Cuts the power of `share` of the units at once; all come back together after the outage. Returns how many. */
  powerCut(share: number, opts?: PowerCutOptions): number
  /** When the `start` of an event was published (ms, this machine's clock), for alert latency. */
  sentAt(eventId: string): number | undefined
  /** Resolves true once `share` of the units are connected, false at the timeout. */
  ready(opts?: { share?: number; timeoutMs?: number }): Promise<boolean>
  /** Starts a detection on one unit now (any online unit when no id). Returns its id, or null. */
  trigger(deviceId?: string, kind?: EventKind): string | null
  unit(deviceId: string): SimUnit | undefined
  /** Graceful: retained `offline` and DISCONNECT per unit, bounded in time. Idempotent. */
  stop(): Promise<void>
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const parsed = OptionsSchema.safeParse(options)
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    throw new RangeError(`fleet options: ${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}`)
  }
  const log = options.log ?? (() => {})
  const mqttUrls = typeof options.mqttUrl === 'string' ? [options.mqttUrl] : [...options.mqttUrl]
  const plan = planFleet({
    count: options.devices,
    seed: options.seed ?? DEFAULT_SEED,
    idPrefix: options.idPrefix ?? 'cam-',
  })

  let secrets = options.secrets
  let credentialsFile: string | null = null
  if (!secrets) {
    if (!options.httpUrl)
      throw new RangeError('fleet options: httpUrl is needed to provision units (or pass secrets)')
    const creds = await ensureCredentials(plan, {
      httpUrl: options.httpUrl,
      // The probe asks one gateway: with several, they share the registry the secrets are checked against.
      mqttUrl: mqttUrls[0] ?? '',
      adminToken: options.adminToken,
      ...(options.credentialsDir ? { dir: options.credentialsDir } : {}),
      log,
    })
    secrets = creds.secrets
    credentialsFile = creds.file
  }
  const clips =
    options.clips ?? (await ensureClips(options.clipCacheDir ? { cacheDir: options.clipCacheDir } : {}))

  const scheduler = new Scheduler({
    maxPerTick: options.maxTasksPerTick ?? 500,
    onError: (err) => {
      countError(stats, `task: ${causeOf(err)}`)
      log(`a unit task failed: ${(err as Error).message}`)
    },
  })
  const stats = newStats(plan.length)
  const faults: FaultOptions = { ...DEFAULT_FAULTS, ...options.faults }
  const uploader =
    options.uploader !== undefined
      ? options.uploader
      : options.httpUrl
        ? new HttpClipUploader({ baseUrl: options.httpUrl })
        : null

  // Publish times of recent event starts, oldest first (Map keeps insertion order).
  const eventTimes = new Map<string, number>()
  const keepTimes = options.eventTimesKept ?? 50_000
  let authLogged = false
  const env: UnitEnv = {
    scheduler,
    mqttUrls,
    config: {
      heartbeatMs: (options.heartbeatS ?? 30) * 1000,
      heartbeatJitter: options.heartbeatJitter ?? 0.1,
      eventRate: options.eventRate ?? 1,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
      keepaliveS: options.keepaliveS ?? 60,
      faults,
      uploadOnEnd: options.uploadOnEnd ?? false,
      sourceNet: options.sourceNet ? parseSourceNet(options.sourceNet) : null,
    },
    stats,
    clips,
    uploader,
    updater: options.httpUrl
      ? new FirmwareUpdater({ baseUrl: options.httpUrl, faults: options.firmwareFaults ?? {} })
      : null,
    runUpload: createLimiter(options.uploadConcurrency ?? 4),
    random: Math.random,
    onEventStart: (eventId, at) => {
      eventTimes.set(eventId, at)
      if (eventTimes.size > keepTimes) {
        const oldest = eventTimes.keys().next()
        if (!oldest.done) eventTimes.delete(oldest.value)
      }
    },
    onAuthFailure: (unit, code) => {
      // Once: thousands of identical lines would bury the one that matters.
      if (authLogged) return
      authLogged = true
      log(
        `${unit.id} was refused with CONNACK ${code}${code === 4 ? ' (bad user name or password)' : ''}: ` +
          `the gateway does not accept its credentials${credentialsFile ? `; delete ${credentialsFile} or restart the simulator to provision again` : ''}`,
      )
    },
  }

  const units = plan.map((p) => {
    const secret = secrets.get(p.id)
    if (secret === undefined) throw new RangeError(`no secret for ${p.id}`)
    return new SimUnit(p, secret, env)
  })
  const byId = new Map(units.map((u) => [u.id, u]))

  scheduler.start()
  // Ramp-up: units boot one after another at connectRate per second.
  const spacing = 1000 / (options.connectRate ?? 200)
  for (const [i, u] of units.entries()) u.start(i * spacing)

  // Random link drops: one fleet-wide task a second instead of a timer per unit.
  let dropTask: Task | null = null
  const dropTick = () => {
    const online = units.filter((u) => u.state === 'online')
    let expected = (online.length * faults.disconnectsPerHour) / 3600
    while (expected > 0 && online.length > 0) {
      if (expected < 1 && Math.random() >= expected) break
      const k = Math.floor(Math.random() * online.length)
      online[k]?.dropLink()
      online.splice(k, 1)
      expected -= 1
    }
    dropTask = scheduler.after(1000, dropTick)
  }
  if (faults.disconnectsPerHour > 0) dropTask = scheduler.after(1000, dropTick)

  let stopping: Promise<void> | null = null
  return {
    plan,
    credentialsFile,
    stats: () => copyStats(stats),
    powerCut(share, opts = {}) {
      const n = Math.round(Math.min(1, Math.max(0, share)) * units.length)
      const backAt = scheduler.now() + (opts.outageMs ?? 5000)
      const pool = units.filter((u) => u.state !== 'stopped' && u.state !== 'down' && u.state !== 'idle')
      let cut = 0
      for (let i = 0; i < n && pool.length > 0; i++) {
        const k = Math.floor(Math.random() * pool.length)
        if (pool[k]?.powerCut(backAt)) cut++
        pool[k] = pool[pool.length - 1] as SimUnit
        pool.pop()
      }
      if (cut > 0) stats.powerCuts++
      return cut
    },
    sentAt: (eventId) => eventTimes.get(eventId),
    async ready(opts = {}) {
      const want = Math.ceil((opts.share ?? 1) * units.length)
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
      while (stats.connected < want) {
        if (Date.now() >= deadline || stopping) return false
        await new Promise((r) => setTimeout(r, 50))
      }
      return true
    },
    trigger(deviceId, kind) {
      const pick = deviceId ? byId.get(deviceId) : units.find((u) => u.state === 'online')
      return pick?.trigger(kind) ? pick.id : null
    },
    unit: (id) => byId.get(id),
    stop() {
      stopping ??= (async () => {
        scheduler.cancel(dropTask)
        // In batches: thousands of simultaneous DISCONNECTs are a storm of their own.
        for (let i = 0; i < units.length; i += 500) {
          await Promise.all(units.slice(i, i + 500).map((u) => u.stop()))
        }
        scheduler.stop()
      })()
      return stopping
    },
  }
}
