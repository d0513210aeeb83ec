import {
  type ChannelCreate,
  type ChannelCreated,
  type ChannelView,
  NOTIFY_DEFAULT_SEVERITY,
  type NotificationPayload,
  type NotificationView,
  type NotifyKind,
  type PushSubscribe,
  RuleCreate,
  type RuleView,
} from '@doorstep/proto'
import { EdgeSet, isLowStorage } from '../alerts/index.js'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { Deliveries } from './deliveries.js'
import { EmailSender } from './email.js'
import { type Channel, NotifyStore } from './notify-store.js'
import { OfflineTimers } from './offline-timers.js'
import { acceptableEndpoint, loadVapidKeys, pushTo } from './push.js'
import { inQuietHours } from './quiet-hours.js'
import { newWebhookSecret, postWebhook } from './webhook.js'
import { RepeatWindows } from './windows.js'

/** Something that happened, before any rule looked at it. */
export interface Trigger {
  kind: NotifyKind
  /** `device:<id>` or `campaign:<id>`: what repeats are counted by. */
  subject: string
  deviceId: string | null
  /** The unit's district; null for a campaign (see `districts`). */
  district: number | null
  /** A campaign's districts; empty: the whole fleet. */
  districts: readonly number[] | null
  campaignId: string | null
  message: string
  at: number
}

const QUIET = 'quiet hours'
const REPEAT = 'repeat within the window'

/**
 * Notifications that reach people: rules (kind, district or all, severity, quiet hours, a repeat
 * window) match what the bus tells, and each match goes to the rule's channels (webhook, email, Web
 * Push) through `Deliveries`. Every notification sent, failed or suppressed is a row of `notify_log`.
 * Construction does nothing; `start()` migrates, reads the rules and the VAPID keys, opens the SMTP
 * transport and listens; `stop()` undoes that and turns deliveries cut short into dead letters.
 */
export class Notifier implements Feature {
  readonly name = 'notify'
  readonly #db: Db
  readonly #bus: EventBus
  readonly #cfg: Config
  readonly #log: Logger
  readonly #now: () => number
  #store: NotifyStore | null = null
  #rules: RuleView[] = []
  #off: Array<() => void> = []
  readonly #lowStorage = new EdgeSet()
  readonly #notRecording = new EdgeSet()
  readonly #offline: OfflineTimers
  readonly #windows: RepeatWindows<Trigger>
  readonly #email: EmailSender
  #deliveries: Deliveries | null = null
  #vapid: { publicKey: string; privateKey: string } | null = null

  constructor(deps: { db: Db; bus: EventBus; config: Config; log: Logger; now?: () => number }) {
    this.#db = deps.db
    this.#bus = deps.bus
    this.#cfg = deps.config
    this.#log = deps.log.child({ feature: 'notify' })
    this.#now = deps.now ?? Date.now
    this.#offline = new OfflineTimers(deps.config.notify.maxTimers)
    this.#windows = new RepeatWindows<Trigger>(deps.config.notify.maxTimers, (key, count, last) =>
      this.#windowClosed(key, count, last),
    )
    this.#email = new EmailSender(deps.config.notify.smtp, deps.config.notify.timeoutMs)
  }

  start(): void {
    const store = new NotifyStore(this.#db)
    store.migrate()
    const cut = store.failUnfinished(this.#now())
    if (cut > 0)
      this.#log.warn({ notifications: cut }, 'deliveries cut short by the last stop are dead letters')
    this.#store = store
    this.#rules = store.rules()
    this.#vapid = loadVapidKeys(this.#cfg.dataDir)
    this.#email.open()
    const n = this.#cfg.notify
    this.#deliveries = new Deliveries({
      store,
      log: this.#log,
      send: (c, p, signal) => this.#sendOnce(c, p, signal),
      attempts: n.attempts,
      retryBaseMs: n.retryBaseMs,
      timeoutMs: n.timeoutMs,
      maxPending: n.maxTimers,
      secrets: () => [this.#email.secret, this.#vapid?.privateKey],
      now: this.#now,
    })
    this.#deliveries.start()
    this.#listen()
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#offline.clear()
    this.#windows.clear()
    this.#lowStorage.clear()
    this.#notRecording.clear()
    this.#deliveries?.stop()
    this.#deliveries = null
    this.#email.close()
    this.#store?.failUnfinished(this.#now())
    this.#store = null
  }

  get #s(): NotifyStore {
    if (!this.#store) throw new Error('notify is not started')
    return this.#store
  }

  /** Offline timers running now, and those refused by DOORSTEP_NOTIFY_MAX_TIMERS. */
  get offlineTimers(): { running: number; refused: number } {
    return { running: this.#offline.size, refused: this.#offline.refused }
  }

  // --- channels and rules (the routes audit these) ---

  createChannel(body: ChannelCreate): ChannelCreated {
    const secret = body.type === 'webhook' ? newWebhookSecret() : null
    const c = this.#s.addChannel({
      type: body.type,
      name: body.name,
      url: body.type === 'webhook' ? body.url : null,
      to: body.type === 'email' ? body.to : null,
      secret,
      createdAt: this.#now(),
    })
    return { ...view(c), secret }
  }

  channels(): ChannelView[] {
    return this.#s.channels().map(view)
  }

  deleteChannel(id: string): ChannelView {
    const c = this.#s.channel(id)
    if (!c) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No notification channel ${id}`)
    const users = this.#rules.filter((r) => r.channels.includes(id)).map((r) => r.id)
    if (users.length > 0) {
      throw new DoorstepError('DOORSTEP_ERR_NOTIFY_CHANNEL_IN_USE', undefined, { rules: users })
    }
    this.#s.deleteChannel(id)
    return view(c)
  }

  createRule(input: RuleCreate): RuleView {
    const body = RuleCreate.parse(input)
    const known = new Set(this.#s.channels().map((c) => c.id))
    const missing = body.channels.filter((id) => !known.has(id))
    if (missing.length > 0)
      throw new DoorstepError('DOORSTEP_ERR_NOTIFY_CHANNEL_UNKNOWN', undefined, { missing })
    const rule = this.#s.addRule({
      name: body.name,
      kind: body.kind,
      district: body.district,
      severity: body.severity ?? NOTIFY_DEFAULT_SEVERITY[body.kind],
      offlineMinutes: body.offlineMinutes,
      windowS: body.windowS,
      quietHours: body.quietHours,
      channels: [...new Set(body.channels)],
      createdAt: this.#now(),
    })
    this.#rules = this.#s.rules()
    return rule
  }

  rules(): RuleView[] {
    return this.#rules
  }

  deleteRule(id: string): RuleView {
    const rule = this.#s.rule(id)
    if (!rule) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No notification rule ${id}`)
    this.#s.deleteRule(id)
    this.#rules = this.#s.rules()
    this.#offline.cancelRule(id)
    this.#windows.dropPrefix(`${id}|`)
    return rule
  }

  /** A rule's notifications, newest first. */
  notifications(ruleId: string, limit: number): NotificationView[] {
    if (!this.#s.rule(ruleId))
      throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No notification rule ${ruleId}`)
    return this.#s.notifications({ ruleId, limit })
  }

  /** Notifications whose last try failed, newest first. */
  deadLetters(limit: number): NotificationView[] {
    return this.#s.notifications({ status: 'failed', limit })
  }

  // --- Web Push subscriptions ---

  get pushPublicKey(): string {
    if (!this.#vapid) throw new Error('notify is not started')
    return this.#vapid.publicKey
  }

  subscribe(tokenId: number, sub: PushSubscribe): { id: string; createdAt: number } {
    if (!acceptableEndpoint(sub.endpoint)) throw new DoorstepError('DOORSTEP_ERR_PUSH_ENDPOINT')
    return this.#s.addPushSubscription(
      { tokenId, endpoint: sub.endpoint, p256dh: sub.keys.p256dh, auth: sub.keys.auth },
      this.#now(),
    )
  }

  unsubscribe(id: string, tokenId: number): void {
    if (!this.#s.deletePushSubscription(id, tokenId)) {
      throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No push subscription ${id} of yours`)
    }
  }

  // --- what the bus tells ---

  #listen(): void {
    const bus = this.#bus
    this.#off = [
      bus.on('presence.changed', ({ device, to, at }) => {
        if (to === 'online') this.#offline.cancelDevice(device.id)
        if (to !== 'offline') return
        for (const rule of this.#rules) {
          if (rule.kind !== 'offline' || !inDistrict(rule, device.district, null)) continue
          const ok = this.#offline.start(device.id, rule.id, Math.round(rule.offlineMinutes * 60_000), () => {
            const minutes = Math.round((this.#now() - at) / 60_000)
            this.#fireRule(rule.id, {
              kind: 'offline',
              subject: `device:${device.id}`,
              deviceId: device.id,
              district: device.district,
              districts: null,
              campaignId: null,
              message: `${device.id} (${device.address}) offline for ${minutes} min`,
              at: this.#now(),
            })
          })
          if (!ok && this.#offline.refused === 1) {
            this.#log.warn(
              { max: this.#cfg.notify.maxTimers },
              'offline timers are at DOORSTEP_NOTIFY_MAX_TIMERS; further offline units are not timed',
            )
          }
        }
      }),
      bus.on('device.event', ({ device, event, at }) => {
        if (event.phase !== 'start' || event.kind !== 'tamper') return
        this.#trigger({
          kind: 'tamper',
          subject: `device:${device.id}`,
          deviceId: device.id,
          district: device.district,
          districts: null,
          campaignId: null,
          message: `tamper at ${device.id} (${device.address})`,
          at,
        })
      }),
      bus.on('device.heartbeat', ({ device, heartbeat: hb, at }) => {
        const base = {
          subject: `device:${device.id}`,
          deviceId: device.id,
          district: device.district,
          districts: null,
          campaignId: null,
          at,
        }
        if (this.#lowStorage.rises(device.id, isLowStorage(hb, this.#cfg.presence.lowStoragePct))) {
          this.#trigger({
            ...base,
            kind: 'low-storage',
            message: `${device.id} (${device.address}) storage low: ${Math.round(hb.storageFreeMb)} MiB free`,
          })
        }
        if (this.#notRecording.rises(device.id, !hb.recording)) {
          this.#trigger({
            ...base,
            kind: 'not-recording',
            message: `${device.id} (${device.address}) stopped recording`,
          })
        }
      }),
      // A revoked token's browsers stop getting pushes meant for staff.
      bus.on('token.revoked', ({ tokenId }) => {
        this.#s.deletePushSubscriptionsOf(tokenId)
      }),
      bus.on('campaign.changed', (c) => {
        if (c.state !== 'paused' || c.elsewhere) return
        this.#trigger({
          kind: 'campaign-paused',
          subject: `campaign:${c.campaignId}`,
          deviceId: null,
          district: null,
          districts: c.districts,
          campaignId: c.campaignId,
          message: `firmware campaign "${c.name}" paused${c.reason ? `: ${c.reason}` : ''}`,
          at: c.at,
        })
      }),
    ]
  }

  #trigger(t: Trigger): void {
    for (const rule of this.#rules) {
      if (rule.kind === t.kind && inDistrict(rule, t.district, t.districts)) this.#fire(rule, t)
    }
  }

  #fireRule(ruleId: string, t: Trigger): void {
    const rule = this.#rules.find((r) => r.id === ruleId)
    if (rule) this.#fire(rule, t)
  }

  /** Quiet hours first (non-critical: recorded, not sent), then the repeat window, then the channels. */
  #fire(rule: RuleView, t: Trigger): void {
    if (this.#quiet(rule, t, 0)) return
    const key = `${rule.id}|${t.subject}`
    if (this.#windows.absorb(key, t)) {
      this.#suppressed(rule, t, REPEAT, 0)
      return
    }
    // At the bound, it goes out without a window: a repeat too many beats a notification lost.
    this.#windows.open(key, rule.windowS * 1000)
    this.#send(rule, t, 0)
  }

  #windowClosed(key: string, count: number, last: Trigger): void {
    const rule = this.#rules.find((r) => `${r.id}|${last.subject}` === key)
    if (!rule) return
    const summary = { ...last, message: `${last.message} (${count} more in ${rule.windowS} s)` }
    if (this.#quiet(rule, summary, count)) return
    this.#windows.open(key, rule.windowS * 1000)
    this.#send(rule, summary, count)
  }

  #quiet(rule: RuleView, t: Trigger, count: number): boolean {
    if (rule.severity === 'critical' || !inQuietHours(rule.quietHours, this.#now())) return false
    this.#suppressed(rule, t, QUIET, count)
    return true
  }

  #suppressed(rule: RuleView, t: Trigger, reason: string, count: number): void {
    this.#s.record(
      {
        ruleId: rule.id,
        channelId: null,
        at: t.at,
        status: 'suppressed',
        kind: t.kind,
        severity: rule.severity,
        subject: t.subject,
        message: t.message,
        suppressedCount: count,
        reason,
      },
      this.#now(),
    )
  }

  #send(rule: RuleView, t: Trigger, suppressedCount: number): void {
    const deliveries = this.#deliveries
    if (!deliveries) return
    for (const channelId of rule.channels) {
      const channel = this.#s.channel(channelId)
      if (!channel) continue
      const row = this.#s.record(
        {
          ruleId: rule.id,
          channelId,
          at: t.at,
          status: 'pending',
          kind: t.kind,
          severity: rule.severity,
          subject: t.subject,
          message: t.message,
          suppressedCount,
          reason: null,
        },
        this.#now(),
      )
      const payload: NotificationPayload = {
        id: row.id,
        ruleId: rule.id,
        rule: rule.name,
        kind: t.kind,
        severity: rule.severity,
        deviceId: t.deviceId,
        district: t.district ?? rule.district,
        campaignId: t.campaignId,
        message: t.message,
        suppressedCount,
        at: t.at,
      }
      deliveries.deliver(channel, payload)
    }
  }

  async #sendOnce(channel: Channel, payload: NotificationPayload, signal: AbortSignal): Promise<void> {
    if (channel.type === 'webhook') {
      if (!channel.url || !channel.secret) throw new Error('the webhook channel has no URL or secret')
      return postWebhook({ url: channel.url, secret: channel.secret }, payload, { signal, now: this.#now })
    }
    if (channel.type === 'email') return this.#email.send(channel.to ?? [], payload)
    return this.#pushAll(payload, signal)
  }

  /**
   * Pushes to every subscribed browser at once. It fails (and is tried again) only when no browser
   * took it; a browser whose push service says it is gone loses its subscription.
   */
  async #pushAll(payload: NotificationPayload, signal: AbortSignal): Promise<void> {
    const keys = this.#vapid
    if (!keys) throw new Error('notify is not started')
    const subs = this.#s.pushSubscriptions()
    if (subs.length === 0) return
    const outcomes = await Promise.all(
      subs.map((s) =>
        pushTo(s, payload, { keys, subject: this.#cfg.notify.pushSubject, signal }).catch(
          (err: unknown) => ({ failed: err instanceof Error ? err.message : String(err) }) as const,
        ),
      ),
    )
    let sent = 0
    let failure: string | null = null
    outcomes.forEach((o, i) => {
      const sub = subs[i]
      if (o === 'sent') sent++
      else if (o === 'gone' && sub) this.#s.deletePushSubscription(sub.id, null)
      else if (typeof o === 'object') failure ??= o.failed
    })
    if (sent === 0 && failure !== null) throw new Error(failure)
  }
}

function inDistrict(rule: RuleView, district: number | null, districts: readonly number[] | null): boolean {
  if (rule.district === null) return true
  if (district !== null) return district === rule.district
  return districts !== null && (districts.length === 0 || districts.includes(rule.district))
}

function view(c: Channel): ChannelView {
  return { id: c.id, type: c.type, name: c.name, url: c.url, to: c.to, createdAt: c.createdAt }
}
