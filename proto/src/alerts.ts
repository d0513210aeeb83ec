import { z } from 'zod'
import { CaseState, PullState } from './cases.js'
import { CampaignState, UnitUpdateState } from './firmware.js'
import { DeviceId, District, EpochMs, Uuid } from './ids.js'

/** What raised an alert: a detection from a unit, or the gateway's view of its health. */
export const AlertKind = z.enum([
  'motion',
  'person',
  'vehicle',
  'sound',
  'tamper',
  'offline',
  'stale',
  'online',
  'low-storage',
  'not-recording',
])
export type AlertKind = z.infer<typeof AlertKind>

export const Severity = z.enum(['info', 'warning', 'critical'])

export const Alert = z
  .object({
    /** Monotonic per gateway, or across the cluster when gateways share Redis; a client resumes from the last id it saw. */
    id: z.number().int().positive(),
    at: EpochMs,
    kind: AlertKind,
    severity: Severity,
    deviceId: DeviceId,
    district: District,
    /** Set for detections; links to the event and its clip. */
    eventId: Uuid.optional(),
    /** How many occurrences this alert stands for (chattering devices are folded). */
    count: z.number().int().positive(),
    /**
     * Set only on the summary a fold window sends when it closes: the window's length in ms. Its `count`
     * repeats came after the unit's first alert of this kind, which went out at once; the summary is
     * deliberately late, so it is not the alert of its `eventId` for latency.
     */
    foldedMs: z.number().int().positive().optional(),
    message: z.string(),
  })
  .meta({ id: 'Alert' })
export type Alert = z.infer<typeof Alert>

/** Frames the gateway sends on the `/api/v1/alerts` WebSocket. */
export const ServerFrame = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('ready'),
      lastId: z.number().int().nonnegative(),
      serverTime: EpochMs,
      /** Changes when the gateway restarts: alert ids from before it mean nothing after it. */
      bootId: z.string().min(1).optional(),
    }),
    z.object({ type: z.literal('alert'), alert: Alert }),
    /** The alerts after `afterId` up to `untilId` are no longer held; refetch state over HTTP. */
    z.object({ type: z.literal('gap'), afterId: z.number().int().nonnegative(), untilId: z.number().int() }),
    /** This socket was too slow; `count` older alerts were dropped for it. */
    z.object({ type: z.literal('dropped'), count: z.number().int().positive() }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
    /**
     * An event's clip is stored, checked and has its thumbnail: a feed can show it now instead of asking
     * on the off chance. A hint, never replayed: after a reconnect the events route says which are ready.
     */
    z.object({
      type: z.literal('clip'),
      eventId: Uuid,
      deviceId: DeviceId,
      district: District,
      thumbUrl: z.string().min(1),
    }),
    /**
     * A pull's progress changed (investigators and admins only): its state at once, and while it
     * uploads its bytes at most twice a second. Not replayed: after a reconnect the case route
     * (`GET /api/v1/cases/:id`) says where every pull stands.
     */
    z.object({
      type: z.literal('pull'),
      pullId: Uuid,
      caseId: Uuid,
      deviceId: DeviceId,
      district: District,
      state: PullState,
      bytes: z.number().int().nonnegative(),
      total: z.number().int().positive().nullable(),
      reason: z.string().nullable(),
    }),
    /** A case was opened or closed (investigators and admins only); not replayed either. */
    z.object({ type: z.literal('case'), caseId: Uuid, number: z.string(), state: CaseState }),
    /**
     * A firmware campaign's progress (admins and ops only): `unit` null when the campaign itself
     * changed state (`reason` says why it paused), else one unit's update, its state at once and its
     * downloaded bytes at most twice a second. Not replayed: `GET /api/v1/campaigns/:id/units` says
     * where every unit stands.
     */
    z.object({
      type: z.literal('campaign'),
      campaignId: Uuid,
      state: CampaignState,
      reason: z.string().nullable(),
      unit: z
        .object({
          deviceId: DeviceId,
          district: District,
          state: UnitUpdateState,
          bytes: z.number().int().nonnegative(),
          total: z.number().int().positive(),
          reason: z.string().nullable(),
        })
        .nullable(),
    }),
  ])
  .meta({ id: 'ServerFrame' })
export type ServerFrame = z.infer<typeof ServerFrame>

/** Frames a dashboard sends: where to resume from, and which alerts it wants. */
export const ClientFrame = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('subscribe'),
      lastId: z.number().int().nonnegative().optional(),
      districts: z.array(District).max(61).optional(),
      kinds: z.array(AlertKind).optional(),
    }),
  ])
  .meta({ id: 'ClientFrame' })
export type ClientFrame = z.infer<typeof ClientFrame>

/**
 * Close codes of the `/api/v1/alerts` WebSocket of the gateway's own (RFC 6455 §7.4.2: 4000–4999 are
 * the application's). `tokenRevoked`: the socket's token was revoked (or the bootstrap token retired)
 * while it was open; reconnecting with it is refused, sign in again.
 */
export const ALERT_SOCKET_CLOSE = { tokenRevoked: 4401 } as const
