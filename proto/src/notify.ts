import { z } from 'zod'
import { Severity } from './alerts.js'
import { DeviceId, District, EpochMs, Uuid } from './ids.js'

/** What a notification rule watches for. */
export const NotifyKind = z.enum(['offline', 'tamper', 'not-recording', 'low-storage', 'campaign-paused'])
export type NotifyKind = z.infer<typeof NotifyKind>

/** The severity a kind carries when its rule does not set one: only tamper goes through quiet hours. */
export const NOTIFY_DEFAULT_SEVERITY = {
  offline: 'warning',
  tamper: 'critical',
  'not-recording': 'warning',
  'low-storage': 'warning',
  'campaign-paused': 'warning',
} as const satisfies Record<NotifyKind, z.infer<typeof Severity>>

export const ChannelType = z.enum(['webhook', 'email', 'push'])
export type ChannelType = z.infer<typeof ChannelType>

const ChannelName = z.string().trim().min(1).max(100)
const WebhookUrl = z.url({ protocol: /^https?$/ }).max(2000)

/** A new channel: a webhook (a secret is generated and shown once), email recipients, or Web Push to every staff subscription. */
export const ChannelCreate = z.discriminatedUnion('type', [
  z.object({ type: z.literal('webhook'), name: ChannelName, url: WebhookUrl }),
  z.object({ type: z.literal('email'), name: ChannelName, to: z.array(z.email()).min(1).max(50) }),
  z.object({ type: z.literal('push'), name: ChannelName }),
])
export type ChannelCreate = z.infer<typeof ChannelCreate>

/** A channel as the API shows it: never its secret. */
export const ChannelView = z
  .object({
    id: Uuid,
    type: ChannelType,
    name: z.string(),
    /** Webhooks: where they are posted. */
    url: z.string().nullable(),
    /** Email: the recipients. */
    to: z.array(z.string()).nullable(),
    createdAt: EpochMs,
  })
  .meta({ id: 'NotifyChannel' })
export type ChannelView = z.infer<typeof ChannelView>

/** The answer to creating a channel: a webhook's signing secret is in it this once, never again. */
export const ChannelCreated = ChannelView.extend({ secret: z.string().nullable() })
export type ChannelCreated = z.infer<typeof ChannelCreated>

export const ChannelList = z.object({ channels: z.array(ChannelView) })

/** `HH:MM`, 24-hour. */
const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)')

const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz })
      return true
    } catch {
      return false
    }
  }, 'must be an IANA time zone such as UTC or Asia/Shanghai')

/**
 * A daily span in a time zone; `start` after `end` wraps midnight (22:00–07:00). Non-critical
 * notifications that fall inside are recorded as suppressed and not sent; critical ones go out.
 */
export const QuietHours = z.object({ start: ClockTime, end: ClockTime, timeZone: TimeZone.default('UTC') })
export type QuietHours = z.infer<typeof QuietHours>

export const RuleCreate = z.object({
  name: z.string().trim().min(1).max(100),
  kind: NotifyKind,
  /** One district, or null for all. */
  district: District.nullable().default(null),
  /** The notifications' severity; unset: the kind's own (tamper critical, the rest warning). */
  severity: Severity.optional(),
  /** `offline` only: how long a unit stays offline before anyone is told; fractions allowed. */
  offlineMinutes: z.number().nonnegative().max(10_080).default(10),
  /** One notification per unit (or campaign) and rule in this window; repeats are counted into one summary. */
  windowS: z.number().int().min(1).max(86_400).default(900),
  quietHours: QuietHours.nullable().default(null),
  channels: z.array(Uuid).min(1).max(20),
})
export type RuleCreate = z.input<typeof RuleCreate>

export const RuleView = z
  .object({
    id: Uuid,
    name: z.string(),
    kind: NotifyKind,
    district: District.nullable(),
    severity: Severity,
    offlineMinutes: z.number(),
    windowS: z.number().int(),
    quietHours: QuietHours.nullable(),
    channels: z.array(Uuid),
    createdAt: EpochMs,
  })
  .meta({ id: 'NotifyRule' })
export type RuleView = z.infer<typeof RuleView>

export const RuleList = z.object({ rules: z.array(RuleView) })
export const NotifyIdParams = z.object({ id: Uuid })

/**
 * Where a notification stands. `pending`/`retrying`: being delivered; `sent`; `failed`: the last try
 * failed, it is a dead letter; `suppressed`: not sent (`reason` says why: quiet hours or a repeat inside
 * the window).
 */
export const NotificationStatus = z.enum(['pending', 'retrying', 'sent', 'failed', 'suppressed'])
export type NotificationStatus = z.infer<typeof NotificationStatus>

export const NotificationView = z
  .object({
    id: Uuid,
    ruleId: Uuid,
    /** Null for a suppressed one: it went to no channel. */
    channelId: Uuid.nullable(),
    at: EpochMs,
    status: NotificationStatus,
    kind: NotifyKind,
    severity: Severity,
    /** What it is about: `device:<id>` or `campaign:<id>`. */
    subject: z.string(),
    message: z.string(),
    /** Repeats inside the window this one stands for (a window's summary). */
    suppressedCount: z.number().int().nonnegative(),
    attempts: z.number().int().nonnegative(),
    /** Why it was suppressed, or the last delivery error (never a secret). */
    reason: z.string().nullable(),
    updatedAt: EpochMs,
  })
  .meta({ id: 'NotifyNotification' })
export type NotificationView = z.infer<typeof NotificationView>

/** Newest first, at most `limit`. */
export const NotificationQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) })
export const NotificationPage = z.object({ notifications: z.array(NotificationView) })

/**
 * The JSON body of a webhook, and the data of a push. Webhooks carry `X-Doorstep-Timestamp` (Unix s)
 * and `X-Doorstep-Signature: sha256=<hex>`, the HMAC-SHA256 with the channel's secret of
 * `<timestamp>.<raw body>`; receivers refuse a timestamp more than five minutes off. `id` is the same
 * on every retry of one delivery.
 */
export const NotificationPayload = z.object({
  id: Uuid,
  ruleId: Uuid,
  rule: z.string(),
  kind: NotifyKind,
  severity: Severity,
  deviceId: DeviceId.nullable(),
  district: District.nullable(),
  campaignId: z.string().nullable(),
  message: z.string(),
  suppressedCount: z.number().int().nonnegative(),
  at: EpochMs,
})
export type NotificationPayload = z.infer<typeof NotificationPayload>

/** The VAPID public key a browser subscribes with (`applicationServerKey`). */
export const PushKey = z.object({ publicKey: z.string() })

/** A browser's `PushSubscription.toJSON()`. */
export const PushSubscribe = z.object({
  endpoint: z.url({ protocol: /^https?$/ }).max(2000),
  keys: z.object({ p256dh: z.string().min(1).max(200), auth: z.string().min(1).max(100) }),
})
export type PushSubscribe = z.infer<typeof PushSubscribe>

export const PushSubscribed = z.object({ id: Uuid, createdAt: EpochMs })

/** The answer to unsubscribing: the subscription removed. */
export const PushUnsubscribed = z.object({ id: Uuid })
