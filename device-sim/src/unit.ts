import { type CommandAck, type EventKind, type Hello, type Status, topicFor } from '@doorstep/proto'
import { eventRatePerHour, heartbeatValues, PEAK_RATE_PER_HOUR, pickEventKind } from './behaviour.js'
import type { ClipFile } from './clips.js'
import { type AckBody, decideCommand, runUploadJob } from './commands.js'
import { scriptEvent } from './event-script.js'
import { isSlowUplink, randomBadPayload, unitSkewMs } from './faults.js'
import type { UpdateHost } from './firmware.js'
import type { PlannedUnit } from './fleet-plan.js'
import { firstGateway } from './gateway-list.js'
import { hashString } from './prng.js'
import type { Task } from './scheduler.js'
import { sourceAddressFor } from './source-address.js'
import { causeOf, countError, type SentKind } from './stats.js'
import { refusesConfig, UnitRemoteConfig } from './unit-config.js'
import type { UnitEnv } from './unit-env.js'
import { type LinkState, UnitLink } from './unit-link.js'
import type { UploadContext } from './uploader.js'

export type { UnitConfig, UnitEnv } from './unit-env.js'
export type UnitState = LinkState

/** Events a unit remembers for pulls; real units keep far more, but a few show the behaviour. */
const RECENT_EVENTS = 4

/** How long a unit is away while it reboots after a firmware install, ms. */
const REBOOT_MS = 300

const CAPABILITIES: Hello['capabilities'] = ['motion', 'person', 'vehicle', 'tamper', 'audio', 'ir', 'pull']

/**
 * One simulated camera-recorder unit: what it says and when. The link
 * (unit-link.ts) owns the connection; timers live in the fleet's scheduler;
 * traits come from the plan entry; heartbeat values are computed from time.
 * A unit holds a handful of fields, so thousands fit in one process.
 */
export class SimUnit {
  readonly plan: PlannedUnit
  readonly #secret: string
  readonly #env: UnitEnv
  readonly #link: UnitLink
  readonly #skewMs: number
  readonly #slow: boolean
  #bootAt = 0
  #hbTask: Task | null = null
  #evTask: Task | null = null
  /** Tasks of the event in progress (one at a time per unit). */
  #eventTasks: Task[] = []
  /** The last command handled: a QoS 1 redelivery of it is not acted on twice. */
  #lastCmdId: string | null = null
  /** The last few events and their clips, oldest first. */
  #recent: Array<{ eventId: string; clip: ClipFile }> = []
  /** What the gateway configured (`cam/{id}/config`) and what this unit runs. */
  readonly remoteConfig: UnitRemoteConfig
  /** The firmware running now: the plan's until an update installs another. */
  #firmware: string
  /** What an update reports once the unit is back from its reboot (`done`, `rolled-back`). */
  #afterBoot: AckBody | null = null

  constructor(plan: PlannedUnit, secret: string, env: UnitEnv) {
    this.plan = plan
    this.#secret = secret
    this.#env = env
    this.#skewMs = unitSkewMs(plan.seed, env.config.faults)
    this.#slow = isSlowUplink(plan.seed, env.config.faults)
    this.remoteConfig = new UnitRemoteConfig({
      refuseAll: refusesConfig(plan.seed, env.config.faults.configRefuseShare),
    })
    this.#firmware = plan.firmware
    const { scheduler, mqttUrls, stats, random, config } = env
    this.#link = new UnitLink(
      plan.id,
      secret,
      {
        scheduler,
        mqttUrls,
        firstUrl: firstGateway(plan.index, mqttUrls.length),
        stats,
        random,
        backoff: config.backoff,
        connectTimeoutMs: config.connectTimeoutMs,
        keepaliveS: config.keepaliveS,
        localAddress: config.sourceNet ? sourceAddressFor(plan.index, config.sourceNet) : null,
      },
      {
        online: (sessionPresent) => this.#online(sessionPresent),
        offline: () => this.#cancelTimers(false),
        message: (topic, payload) => this.#onMessage(topic, payload),
        refused: (code) => env.onAuthFailure?.(this, code),
        offlineStatus: () => JSON.stringify({ v: 1, ts: this.clock(), state: 'offline' } satisfies Status),
      },
    )
  }

  get id(): string {
    return this.plan.id
  }

  get state(): UnitState {
    return this.#link.state
  }

  get firmware(): string {
    return this.#firmware
  }

  /** The gateway it connects (or last connected) to. */
  get gatewayUrl(): string {
    return this.#link.url
  }

  get skewMs(): number {
    return this.#skewMs
  }

  /** The unit's own clock, ms: real time plus its skew. */
  clock(): number {
    return this.#env.scheduler.now() + this.#skewMs
  }

  /** Boots the unit; its first connect is `delayMs` away (the fleet's ramp). */
  start(delayMs = 0): void {
    this.#bootAt = this.#env.scheduler.now() + delayMs
    this.#link.start(delayMs)
  }

  /** Link loss: retried with backoff; an event in progress still finishes and its phases are queued. */
  dropLink(): boolean {
    return this.#link.drop()
  }

  /**
   * Power cut: RAM is lost (unacknowledged publishes, the event in progress).
   * The unit boots again at `backAt` — every cut unit at the same moment, as
   * when a feeder comes back — with its uptime reset.
   */
  powerCut(backAt: number): boolean {
    if (!this.#link.powerCut(backAt)) return false
    this.#cancelTimers(true)
    this.#bootAt = backAt
    return true
  }

  /** Starts a detection now (demos and tests); false when offline or one is in progress. */
  trigger(kind?: EventKind): boolean {
    if (this.state !== 'online' || this.#eventTasks.length > 0) return false
    this.#startEvent(kind ?? pickEventKind(this.plan.setting, this.#env.scheduler.now(), this.#env.random))
    return true
  }

  /** Graceful: retained `offline`, then DISCONNECT; bounded by `timeoutMs`. */
  stop(timeoutMs = 2000): Promise<void> {
    this.#cancelTimers(true)
    return this.#link.stop(timeoutMs)
  }

  #online(sessionPresent: boolean): void {
    const { scheduler, stats, random } = this.#env
    if (!sessionPresent) {
      for (const kind of ['cmd', 'config'] as const)
        this.#link.subscribe(topicFor(kind, this.id), (ok) => {
          if (!ok) countError(stats, 'subscribe refused')
        })
    }
    const { model } = this.plan
    this.#send(
      'hello',
      { v: 1, ts: this.clock(), model, firmware: this.#firmware, capabilities: CAPABILITIES } satisfies Hello,
      1,
    )
    this.#send('status', { v: 1, ts: this.clock(), state: 'online' } satisfies Status, 1, true)
    if (this.#afterBoot) this.#ack(this.#afterBoot)
    this.#afterBoot = null
    // The first heartbeat lands anywhere in one interval, so a ramp does not line every unit up.
    this.#hbTask = scheduler.after(random() * this.#heartbeatMs(), () => this.#heartbeat())
    this.#scheduleEvent()
  }

  #cancelTimers(withEvent: boolean): void {
    const s = this.#env.scheduler
    s.cancel(this.#hbTask)
    s.cancel(this.#evTask)
    this.#hbTask = this.#evTask = null
    if (!withEvent) return
    for (const t of this.#eventTasks) s.cancel(t)
    this.#eventTasks = []
  }

  /**
   * Publishes one payload, maybe as a bad one (faults). For events the bad
   * copy goes out *before* the good one, so the event's life stays whole.
   */
  #send(kind: SentKind, payload: object, qos: 0 | 1, retain = false, onAck?: () => void): void {
    const { stats, config, random } = this.#env
    const mangle = kind === 'hello' || kind === 'heartbeat' || kind === 'event'
    if (mangle && config.faults.badRate > 0 && random() < config.faults.badRate) {
      const bad = randomBadPayload(kind, payload as Record<string, unknown>, random)
      stats.badPayloads[bad.expect]++
      this.#write(kind, bad.body, qos, retain, bad.expect === 'accept')
      if (kind !== 'event') return
    }
    this.#write(kind, JSON.stringify(payload), qos, retain, true, onAck)
  }

  /** `valid`: proto accepts the body, so a heartbeat should land in InfluxDB. */
  #write(
    kind: SentKind,
    body: string | Buffer,
    qos: 0 | 1,
    retain: boolean,
    valid: boolean,
    onAck?: () => void,
  ): void {
    const { stats, scheduler, config } = this.#env
    const go = () => {
      const sent = this.#link.publish(topicFor(kind, this.id), body, qos, retain, (err) => {
        if (err) countError(stats, `publish: ${causeOf(err)}`)
        else {
          stats.acked[kind]++
          onAck?.()
        }
      })
      if (!sent) return
      stats.sent[kind]++
      if (kind === 'heartbeat' && valid) stats.heartbeatsValid++
    }
    // A slow uplink: the bytes take a while to leave the house.
    if (this.#slow) scheduler.after(config.faults.slowDelayMs, go)
    else go()
  }

  #heartbeat(): void {
    this.#hbTask = null
    if (this.state !== 'online') return
    const { scheduler, config, random } = this.#env
    const values = heartbeatValues(this.plan, scheduler.now(), this.#bootAt)
    this.#send('heartbeat', { v: 1, ts: this.clock(), ...values }, 0)
    const next = this.#heartbeatMs() * (1 + config.heartbeatJitter * (2 * random() - 1))
    this.#hbTask = scheduler.after(next, () => this.#heartbeat())
  }

  /**
   * Next detection by thinning: candidates arrive at the unit's peak rate and
   * each is kept with probability rate(now)/peak, which follows the day/night
   * curve without a timer per hour.
   */
  #scheduleEvent(): void {
    const { scheduler, config, random } = this.#env
    if (config.eventRate <= 0 || this.#env.clips.length === 0) return
    const peak = PEAK_RATE_PER_HOUR[this.plan.setting]
    const delay = -Math.log(1 - random()) / ((peak * config.eventRate) / 3_600_000)
    this.#evTask = scheduler.after(delay, () => {
      this.#evTask = null
      if (this.state !== 'online') return
      const now = scheduler.now()
      const keep = random() < eventRatePerHour(this.plan.setting, now) / peak
      if (keep && this.#eventTasks.length === 0)
        this.#startEvent(pickEventKind(this.plan.setting, now, random))
      this.#scheduleEvent()
    })
  }

  /** Publishes the phases of one detection; QoS 1 each, so a phase that meets a drop is resent. */
  #startEvent(kind: EventKind): void {
    const { scheduler, random, clips, stats, config, uploader } = this.#env
    const script = scriptEvent(this.plan.setting, kind, clips, random)
    if (!script) return
    this.#remember(script.eventId, script.clip)
    for (const phase of script.phases) {
      const publish = () => {
        const end = phase.payload.phase === 'end'
        // The gateway takes a clip only for an event whose `end` it holds: upload after that PUBACK.
        const afterAck =
          end && config.uploadOnEnd && uploader ? () => this.#upload(script.eventId, script.clip) : undefined
        this.#send('event', { ...phase.payload, ts: this.clock() }, 1, false, afterAck)
        if (phase.payload.phase === 'start') this.#env.onEventStart?.(script.eventId, scheduler.now())
        if (!end) return
        this.#eventTasks = []
        stats.events++
      }
      if (phase.delayMs === 0) publish()
      else this.#eventTasks.push(scheduler.after(phase.delayMs, publish))
    }
  }

  /** Keeps the last few events' clips: a pull for one of them must send the bytes that event announced. */
  #remember(eventId: string, clip: ClipFile): void {
    this.#recent.push({ eventId, clip })
    if (this.#recent.length > RECENT_EVENTS) this.#recent.shift()
  }

  /** The configured interval once the gateway set one, else the fleet's. */
  #heartbeatMs(): number {
    return this.remoteConfig.heartbeatMs() ?? this.#env.config.heartbeatMs
  }

  #onConfig(payload: Buffer): void {
    const { stats, scheduler } = this.#env
    stats.configs.received++
    const d = this.remoteConfig.receive(payload)
    if (d.outcome === 'ignored') {
      if (d.invalid) stats.configs.invalid++
      return
    }
    stats.configs[d.outcome]++
    this.#send('configReported', { v: 1, ts: this.clock(), ...d.report }, 1)
    if (d.outcome === 'applied' && d.heartbeatChanged && this.#hbTask) {
      scheduler.cancel(this.#hbTask)
      this.#hbTask = scheduler.after(this.#heartbeatMs(), () => this.#heartbeat())
    }
  }

  #onMessage(topic: string, payload: Buffer): void {
    if (topic === topicFor('config', this.id)) {
      this.#onConfig(payload)
      return
    }
    if (topic !== topicFor('cmd', this.id)) return
    const { stats, clips } = this.#env
    stats.commands.received++
    const d = decideCommand(payload, this.plan.releasePolicy, this.#lastCmdId)
    if (d.outcome === 'ignored') {
      if (d.invalid) stats.commands.invalid++
      return
    }
    this.#lastCmdId = d.cmdId
    this.#ack(d.ack)
    if (d.outcome === 'answered') {
      stats.commands[d.counter]++
      return
    }
    if (d.outcome === 'update') {
      if (this.#env.updater) this.#env.updater.run(d.cmd, this.#updateHost())
      else this.#ack({ cmdId: d.cmdId, status: 'failed', reason: 'this unit cannot update' })
      return
    }
    stats.commands.pull++
    // A pull naming one of our recent events gets that event's clip (its sha256 was announced);
    // any other window is stood in for by a shared clip chosen by the command.
    const target = d.uploadPath.split('/').pop() ?? ''
    const clip =
      this.#recent.find((r) => r.eventId === target)?.clip ??
      clips[hashString(d.cmdId) % Math.max(1, clips.length)]
    if (clip) this.#upload(d.cmdId, clip, d.uploadPath, (a) => this.#ack(a))
  }

  #updateHost(): UpdateHost {
    return {
      deviceId: this.id,
      secret: this.#secret,
      firmware: () => this.#firmware,
      ack: (a) => this.#ack(a),
      ackDurably: (a) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 5000)
          this.#send('cmdAck', { v: 1, ts: this.clock(), ...a } satisfies CommandAck, 1, false, () => {
            clearTimeout(t)
            resolve()
          })
        }),
      reboot: (firmware, afterBoot) => {
        this.#firmware = firmware
        this.#afterBoot = afterBoot
        this.powerCut(this.#env.scheduler.now() + REBOOT_MS)
      },
      random: this.#env.random,
    }
  }

  #ack(a: AckBody): void {
    this.#send('cmdAck', { v: 1, ts: this.clock(), ...a } satisfies CommandAck, 1)
  }

  #upload(id: string, clip: ClipFile, path?: string, ack?: (a: AckBody) => void): void {
    const { uploader, runUpload, stats, config } = this.#env
    if (!uploader) return
    const ctx: UploadContext = { deviceId: this.id, secret: this.#secret }
    if (path) ctx.path = path
    if (this.#slow) ctx.bytesPerS = config.faults.slowBytesPerS
    runUploadJob({ uploader, runUpload, stats, id, clip, ctx, ...(ack ? { ack } : {}) })
  }
}
