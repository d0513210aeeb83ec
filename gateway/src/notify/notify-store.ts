import { randomUUID } from 'node:crypto'
import type {
  ChannelType,
  ChannelView,
  NotificationStatus,
  NotificationView,
  NotifyKind,
  QuietHours,
  RuleView,
} from '@doorstep/proto'
import { type Db, migrate, statementCache } from '../db/index.js'

export const NOTIFY_SCHEMA = [
  `CREATE TABLE notify_channels (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT,
    recipients TEXT,
    secret TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE notify_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    district INTEGER,
    severity TEXT NOT NULL,
    offline_minutes REAL NOT NULL,
    window_s INTEGER NOT NULL,
    quiet_hours TEXT,
    channels TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE notify_log (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    rule_id TEXT NOT NULL,
    channel_id TEXT,
    at INTEGER NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    suppressed_count INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX notify_log_rule ON notify_log (rule_id, seq);
  CREATE INDEX notify_log_status ON notify_log (status, seq);
  CREATE TABLE notify_push_subscriptions (
    id TEXT PRIMARY KEY,
    token_id INTEGER NOT NULL,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX notify_push_token ON notify_push_subscriptions (token_id);`,
]

/** A channel with what only delivery may see (the webhook secret). */
export interface Channel extends ChannelView {
  secret: string | null
}

export interface PushSubscriptionRow {
  id: string
  tokenId: number
  endpoint: string
  p256dh: string
  auth: string
}

interface ChannelRow {
  id: string
  type: ChannelType
  name: string
  url: string | null
  recipients: string | null
  secret: string | null
  created_at: number
}

interface RuleRow {
  id: string
  name: string
  kind: NotifyKind
  district: number | null
  severity: RuleView['severity']
  offline_minutes: number
  window_s: number
  quiet_hours: string | null
  channels: string
  created_at: number
}

interface LogRow {
  id: string
  rule_id: string
  channel_id: string | null
  at: number
  status: NotificationStatus
  kind: NotifyKind
  severity: RuleView['severity']
  subject: string
  message: string
  suppressed_count: number
  attempts: number
  reason: string | null
  updated_at: number
}

const toChannel = (r: ChannelRow): Channel => ({
  id: r.id,
  type: r.type,
  name: r.name,
  url: r.url,
  to: r.recipients === null ? null : (JSON.parse(r.recipients) as string[]),
  createdAt: r.created_at,
  secret: r.secret,
})

const toRule = (r: RuleRow): RuleView => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  district: r.district,
  severity: r.severity,
  offlineMinutes: r.offline_minutes,
  windowS: r.window_s,
  quietHours: r.quiet_hours === null ? null : (JSON.parse(r.quiet_hours) as QuietHours),
  channels: JSON.parse(r.channels) as string[],
  createdAt: r.created_at,
})

const toNotification = (r: LogRow): NotificationView => ({
  id: r.id,
  ruleId: r.rule_id,
  channelId: r.channel_id,
  at: r.at,
  status: r.status,
  kind: r.kind,
  severity: r.severity,
  subject: r.subject,
  message: r.message,
  suppressedCount: r.suppressed_count,
  attempts: r.attempts,
  reason: r.reason,
  updatedAt: r.updated_at,
})

/** One notification as it is first written; its status then moves on by `settle`. */
export type NewNotification = Omit<NotificationView, 'id' | 'updatedAt' | 'attempts'>

/**
 * The notify feature's tables: channels (with webhook secrets, which leave this file only towards
 * delivery), rules, the log of every notification, and the browsers' push subscriptions.
 */
export class NotifyStore {
  readonly #db: Db
  readonly #stmt: ReturnType<typeof statementCache>

  constructor(db: Db) {
    this.#db = db
    this.#stmt = statementCache(db)
  }

  migrate(): void {
    migrate(this.#db, 'notify', NOTIFY_SCHEMA)
  }

  /** Deliveries in flight when the gateway stopped cannot resume: they become dead letters. */
  failUnfinished(now: number): number {
    return this.#stmt(
      "UPDATE notify_log SET status = 'failed', reason = 'the gateway stopped before delivery finished', updated_at = ? WHERE status IN ('pending', 'retrying')",
    ).run(now).changes
  }

  addChannel(c: Omit<Channel, 'id'>): Channel {
    const id = randomUUID()
    this.#stmt(
      'INSERT INTO notify_channels (id, type, name, url, recipients, secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(id, c.type, c.name, c.url, c.to === null ? null : JSON.stringify(c.to), c.secret, c.createdAt)
    return { ...c, id }
  }

  channel(id: string): Channel | null {
    const r = this.#stmt('SELECT * FROM notify_channels WHERE id = ?').get(id) as ChannelRow | undefined
    return r ? toChannel(r) : null
  }

  channels(): Channel[] {
    return (this.#stmt('SELECT * FROM notify_channels ORDER BY created_at, id').all() as ChannelRow[]).map(
      toChannel,
    )
  }

  deleteChannel(id: string): boolean {
    return this.#stmt('DELETE FROM notify_channels WHERE id = ?').run(id).changes > 0
  }

  addRule(r: Omit<RuleView, 'id'>): RuleView {
    const id = randomUUID()
    this.#stmt(
      `INSERT INTO notify_rules (id, name, kind, district, severity, offline_minutes, window_s, quiet_hours, channels, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      r.name,
      r.kind,
      r.district,
      r.severity,
      r.offlineMinutes,
      r.windowS,
      r.quietHours === null ? null : JSON.stringify(r.quietHours),
      JSON.stringify(r.channels),
      r.createdAt,
    )
    return { ...r, id }
  }

  rules(): RuleView[] {
    return (this.#stmt('SELECT * FROM notify_rules ORDER BY created_at, id').all() as RuleRow[]).map(toRule)
  }

  rule(id: string): RuleView | null {
    const r = this.#stmt('SELECT * FROM notify_rules WHERE id = ?').get(id) as RuleRow | undefined
    return r ? toRule(r) : null
  }

  deleteRule(id: string): boolean {
    return this.#stmt('DELETE FROM notify_rules WHERE id = ?').run(id).changes > 0
  }

  record(n: NewNotification, now: number): NotificationView {
    const id = randomUUID()
    this.#stmt(
      `INSERT INTO notify_log (id, rule_id, channel_id, at, status, kind, severity, subject, message, suppressed_count, attempts, reason, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
    ).run(
      id,
      n.ruleId,
      n.channelId,
      n.at,
      n.status,
      n.kind,
      n.severity,
      n.subject,
      n.message,
      n.suppressedCount,
      n.reason,
      now,
    )
    return { ...n, id, attempts: 0, updatedAt: now }
  }

  /** A delivery try ended: its new status, the tries so far and the last error (already scrubbed). */
  settle(id: string, status: NotificationStatus, attempts: number, reason: string | null, now: number): void {
    this.#stmt('UPDATE notify_log SET status = ?, attempts = ?, reason = ?, updated_at = ? WHERE id = ?').run(
      status,
      attempts,
      reason,
      now,
      id,
    )
  }

  notifications(q: { ruleId?: string; status?: NotificationStatus; limit: number }): NotificationView[] {
    const where: string[] = []
    const params: Array<string | number> = []
    if (q.ruleId !== undefined) {
      where.push('rule_id = ?')
      params.push(q.ruleId)
    }
    if (q.status !== undefined) {
      where.push('status = ?')
      params.push(q.status)
    }
    const sql = `SELECT * FROM notify_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`
    return (this.#db.prepare(sql).all(...params, q.limit) as LogRow[]).map(toNotification)
  }

  addPushSubscription(s: Omit<PushSubscriptionRow, 'id'>, now: number): { id: string; createdAt: number } {
    const id = randomUUID()
    // A browser that subscribes again keeps one row (its endpoint is unique), now under this token.
    this.#stmt(
      `INSERT INTO notify_push_subscriptions (id, token_id, endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(endpoint) DO UPDATE SET token_id = excluded.token_id, p256dh = excluded.p256dh, auth = excluded.auth`,
    ).run(id, s.tokenId, s.endpoint, s.p256dh, s.auth, now)
    const r = this.#stmt('SELECT id, created_at FROM notify_push_subscriptions WHERE endpoint = ?').get(
      s.endpoint,
    ) as { id: string; created_at: number }
    return { id: r.id, createdAt: r.created_at }
  }

  pushSubscriptions(): PushSubscriptionRow[] {
    return this.#stmt(
      'SELECT id, token_id AS tokenId, endpoint, p256dh, auth FROM notify_push_subscriptions ORDER BY created_at',
    ).all() as PushSubscriptionRow[]
  }

  /** Only the token that made it may remove it (`tokenId` null: any, for gone endpoints). */
  deletePushSubscription(id: string, tokenId: number | null): boolean {
    if (tokenId === null)
      return this.#stmt('DELETE FROM notify_push_subscriptions WHERE id = ?').run(id).changes > 0
    return (
      this.#stmt('DELETE FROM notify_push_subscriptions WHERE id = ? AND token_id = ?').run(id, tokenId)
        .changes > 0
    )
  }

  deletePushSubscriptionsOf(tokenId: number): number {
    return this.#stmt('DELETE FROM notify_push_subscriptions WHERE token_id = ?').run(tokenId).changes
  }
}
