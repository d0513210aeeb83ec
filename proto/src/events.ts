import { z } from 'zod'
import { EventKind, EventPhase } from './device.js'
import { DeviceId, District, EpochMs, Latitude, Longitude, Sha256Hex, Uuid } from './ids.js'

/**
 * HTTP bodies of the events index, clip upload and serving, and holds.
 * Query strings arrive as text, so query schemas coerce.
 */

/**
 * Where an event's clip stands: `none` (no clip announced), `pending` (announced, no byte yet),
 * `uploading` (part of it received), `ready` (stored, verified, playable), `rejected` (the upload
 * was not a video), `expired` (deleted by retention or disk pressure; the event stays).
 */
export const ClipState = z.enum(['none', 'pending', 'uploading', 'ready', 'rejected', 'expired'])
export type ClipState = z.infer<typeof ClipState>

/** A time in a query string: ms since the epoch, or an ISO 8601 date. */
export const QueryTime = z.string().transform((s, ctx) => {
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s)
  if (!Number.isSafeInteger(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'must be ms since the epoch or an ISO 8601 date' })
    return z.NEVER
  }
  return ms
})

const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')

/** `near=lat,lon,radius_m`: events of units within `radius_m` metres of a point (great-circle). */
export const Near = z.string().transform((s, ctx) => {
  const parts = s.split(',').map((p) => Number(p.trim()))
  const [lat, lon, radiusM] = parts
  if (
    parts.length !== 3 ||
    !Latitude.safeParse(lat).success ||
    !Longitude.safeParse(lon).success ||
    !(typeof radiusM === 'number' && Number.isFinite(radiusM) && radiusM > 0 && radiusM <= 100_000)
  ) {
    ctx.addIssue({ code: 'custom', message: 'must be lat,lon,radius_m with 0 < radius_m <= 100000' })
    return z.NEVER
  }
  return { lat: lat as number, lon: lon as number, radiusM: radiusM as number }
})
export type Near = z.infer<typeof Near>

const EventsQueryFields = z.object({
  from: QueryTime.optional().describe(
    'events that started at or after this time (ms since the epoch or ISO 8601)',
  ),
  to: QueryTime.optional().describe(
    'events that started at or before this time (ms since the epoch or ISO 8601)',
  ),
  district: District.optional(),
  device: DeviceId.optional(),
  kind: EventKind.optional(),
  hasClip: QueryBool.optional().describe(
    '`true`: only events whose clip is `ready`; `false`: only those without one',
  ),
  near: Near.optional().describe(
    '`lat,lon,radius_m`: events of units within radius_m metres (at most 100000)',
  ),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(200).optional().describe("the previous page's `nextCursor`"),
})
const fromNotAfterTo = (q: { from?: number | undefined; to?: number | undefined }) =>
  q.from === undefined || q.to === undefined || q.from <= q.to

/** `GET /api/v1/events`: newest first; pass `nextCursor` back as `cursor` for the next page. */
export const EventsQuery = EventsQueryFields.refine(fromNotAfterTo, { message: 'from must not be after to' })
export type EventsQuery = z.infer<typeof EventsQuery>

export const EventClip = z.object({
  state: ClipState,
  /** As announced by the unit on `end`. */
  bytes: z.number().int().nullable(),
  sha256: Sha256Hex.nullable(),
  durationMs: z.number().int().nullable(),
  codec: z.string().nullable(),
  /** Where to fetch the clip (HTTP Range) and its 320 px WebP thumbnail once `ready`. */
  url: z.string().nullable(),
  thumbUrl: z.string().nullable(),
})
export type EventClip = z.infer<typeof EventClip>

export const EventView = z
  .object({
    id: Uuid,
    deviceId: DeviceId,
    district: District,
    kind: EventKind,
    /** The furthest lifecycle step seen: `start`, `update` or `end`. */
    phase: EventPhase,
    /** Highest detector score seen over the lifecycle. */
    score: z.number().min(0).max(1),
    zone: z.string().nullable(),
    /** Gateway clock (the unit's time corrected for its clock skew), ms. */
    startedAt: EpochMs,
    endedAt: EpochMs.nullable(),
    /** The unit's location at the time of the event. */
    lat: Latitude,
    lon: Longitude,
    clip: EventClip,
  })
  .meta({ id: 'EventView' })
export type EventView = z.infer<typeof EventView>

export const EventList = z.object({ events: z.array(EventView), nextCursor: z.string().nullable() })
export type EventList = z.infer<typeof EventList>

/** `GET /api/v1/my/devices/:id/events`: the events query of one of the owner's units (the path names it). */
export const OwnerEventsQuery = EventsQueryFields.omit({ device: true }).refine(fromNotAfterTo, {
  message: 'from must not be after to',
})

/** `/api/v1/events/:id` */
export const EventParams = z.object({ id: Uuid })
/** `/api/v1/clips/:eventId` and `/api/v1/my/clips/:eventId` */
export const ClipParams = z.object({ eventId: Uuid })

/** What ffprobe found in a stored clip. */
export const ClipMedia = z
  .object({
    sha256: Sha256Hex,
    bytes: z.number().int().positive(),
    mime: z.string(),
    container: z.string(),
    codec: z.string(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    durationMs: z.number().int().nonnegative(),
    storedAt: EpochMs,
    /** Whether the thumbnail has been made (it follows the upload through the media queue). */
    thumb: z.boolean(),
  })
  .meta({ id: 'ClipMedia' })
export type ClipMedia = z.infer<typeof ClipMedia>

/** Answer to a clip `PUT`: `partial` until every announced byte arrived, then `stored`. */
export const ClipUploadResult = z.object({
  eventId: Uuid,
  state: z.enum(['partial', 'stored']),
  received: z.number().int().nonnegative(),
  total: z.number().int().positive(),
  media: ClipMedia.optional(),
})
export type ClipUploadResult = z.infer<typeof ClipUploadResult>

/** A time in a JSON body: ms since the epoch or an ISO 8601 date-time. */
const BodyTime = z.union([EpochMs, z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))])

export const HoldCreate = z.object({
  eventId: Uuid,
  reason: z.string().trim().min(1).max(500),
  /** Held until this time; absent or null holds until released. */
  until: BodyTime.nullable().optional(),
})
export type HoldCreate = z.infer<typeof HoldCreate>

export const Hold = z
  .object({
    id: z.number().int().positive(),
    eventId: Uuid,
    reason: z.string(),
    /** Who placed it: the token name, or the feature that called `hold()`. */
    who: z.string(),
    createdAt: EpochMs,
    until: EpochMs.nullable(),
    releasedAt: EpochMs.nullable(),
    releasedBy: z.string().nullable(),
    /** Not released and not past `until`. */
    active: z.boolean(),
  })
  .meta({ id: 'Hold' })
export type Hold = z.infer<typeof Hold>

export const HoldList = z.object({ holds: z.array(Hold) })

/** `DELETE /api/v1/holds/:id` */
export const HoldParams = z.object({ id: z.coerce.number().int().positive() })

export const HoldsQuery = z.object({
  eventId: Uuid.optional(),
  /** `active` (default): holds in force now; `all`: released and lapsed ones too. */
  state: z.enum(['active', 'all']).default('active'),
})

export const EventDetail = EventView.extend({
  media: ClipMedia.nullable(),
  holds: z.array(Hold),
})
export type EventDetail = z.infer<typeof EventDetail>
