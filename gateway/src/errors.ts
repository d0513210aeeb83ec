/**
 * Every error Doorstep shows a user has a stable code, an HTTP status and a
 * message, all listed here once. The README documents each code; a test
 * checks that it does.
 */
export const ERRORS = {
  DOORSTEP_ERR_CONFIG: { status: 500, message: 'Invalid configuration' },
  DOORSTEP_ERR_BAD_REQUEST: { status: 400, message: 'The request is not valid' },
  DOORSTEP_ERR_UNAUTHENTICATED: { status: 401, message: 'A valid bearer token is required' },
  DOORSTEP_ERR_FORBIDDEN: { status: 403, message: 'Your role may not do this' },
  DOORSTEP_ERR_NOT_FOUND: { status: 404, message: 'Not found' },
  DOORSTEP_ERR_DEVICE_EXISTS: { status: 409, message: 'A device with this id or serial already exists' },
  DOORSTEP_ERR_IMPORT_INVALID: { status: 422, message: 'The import has invalid rows; nothing was imported' },
  DOORSTEP_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'The body is larger than allowed' },
  DOORSTEP_ERR_UNSUPPORTED_MEDIA: { status: 415, message: 'This content type is not accepted here' },
  DOORSTEP_ERR_INFLUX_UNAVAILABLE: { status: 503, message: 'InfluxDB is not answering' },
  DOORSTEP_ERR_INFLUX_REJECTED: { status: 500, message: 'InfluxDB refused the request as malformed' },
  DOORSTEP_ERR_INFLUXD_START: { status: 500, message: 'The managed influxd could not be started' },
  DOORSTEP_ERR_SPOOL_FULL: { status: 503, message: 'The ingest spool is full' },
  DOORSTEP_ERR_SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down' },
  DOORSTEP_ERR_AUTH_BUSY: { status: 503, message: 'Too many units are being authenticated; retry shortly' },
  DOORSTEP_ERR_AUTH_THROTTLED: {
    status: 429,
    message: 'Too many failed authentications from this address; retry after the Retry-After seconds',
  },
  DOORSTEP_ERR_NO_ADMIN_TOKEN: {
    status: 409,
    message: 'No stored admin token is active; issue one before retiring the bootstrap token',
  },
  DOORSTEP_ERR_DEVICE_UNAUTHENTICATED: {
    status: 401,
    message: 'Device id and secret (HTTP Basic) are required',
  },
  DOORSTEP_ERR_CLIP_NOT_ANNOUNCED: { status: 409, message: 'The event has announced no clip to upload' },
  DOORSTEP_ERR_UPLOAD_OFFSET: {
    status: 409,
    message: 'The upload does not continue from the bytes received',
  },
  DOORSTEP_ERR_UPLOAD_BUSY: {
    status: 409,
    message:
      'Another upload of this clip is in progress through another gateway; retry after Retry-After seconds',
  },
  DOORSTEP_ERR_CLIP_HASH_MISMATCH: {
    status: 422,
    message: 'The clip does not match the sha256 its event announced',
  },
  DOORSTEP_ERR_CLIP_NOT_VIDEO: { status: 422, message: 'The clip is not a readable video' },
  DOORSTEP_ERR_CLIP_EXPIRED: { status: 410, message: 'The clip was deleted by retention' },
  DOORSTEP_ERR_RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range is outside the file' },
  DOORSTEP_ERR_MEDIA_BUSY: { status: 503, message: 'The media queue is full; retry later' },
  // 507 Insufficient Storage (RFC 4918 §11.5): the gateway cannot store this unit's upload until
  // retention frees room in its quota. Not 413 (the clip itself is within the size limit) and not
  // 429 (no rate is exceeded; waiting alone does not help until its old clips age out).
  DOORSTEP_ERR_UNIT_QUOTA: { status: 507, message: "The unit's clip storage quota is full" },
  // 429 Too Many Requests (RFC 6585 §4): the unit has too many uploads open at once; it should
  // finish (resume) those before starting another.
  DOORSTEP_ERR_UNIT_UPLOADS: { status: 429, message: 'The unit has too many unfinished uploads' },
  DOORSTEP_ERR_CASE_EXISTS: { status: 409, message: 'A case with this number already exists' },
  DOORSTEP_ERR_CASE_CLOSED: { status: 409, message: 'The case is closed' },
  DOORSTEP_ERR_PULL_STATE: { status: 409, message: 'The pull is not in a state that allows this' },
  DOORSTEP_ERR_CONSENT_DECIDED: { status: 409, message: 'This consent request was already decided' },
  DOORSTEP_ERR_FIRMWARE_EXISTS: { status: 409, message: 'An image of this model and version exists' },
  // 403, not 404: the image exists and the unit is known; it is just not this unit's to fetch now.
  DOORSTEP_ERR_FIRMWARE_NOT_OFFERED: { status: 403, message: 'This image was not offered to this unit' },
  DOORSTEP_ERR_CAMPAIGN_STATE: { status: 409, message: 'The campaign is not in a state that allows this' },
  DOORSTEP_ERR_CAMPAIGN_NO_UNITS: { status: 422, message: 'No unit matches the campaign' },
  DOORSTEP_ERR_NOTIFY_CHANNEL_UNKNOWN: {
    status: 422,
    message: 'The rule names a notification channel that does not exist',
  },
  DOORSTEP_ERR_NOTIFY_CHANNEL_IN_USE: {
    status: 409,
    message: 'The channel is used by notification rules; delete or change them first',
  },
  DOORSTEP_ERR_PUSH_ENDPOINT: {
    status: 422,
    message: 'A push endpoint must be https (plain http only on the loopback interface)',
  },
  // Start refusals, never sent over HTTP; 500 like the other start failures.
  DOORSTEP_ERR_DOWNGRADE_REFUSED: {
    status: 500,
    message: 'The database was written by a newer release; this one does not start on it',
  },
  DOORSTEP_ERR_UPGRADE_NO_ROOM: {
    status: 500,
    message: 'There is no room for the backup taken before a schema upgrade',
  },
  DOORSTEP_ERR_UPGRADE_PENDING: {
    status: 500,
    message: 'The database is from an earlier release; start the gateway once to upgrade it',
  },
  DOORSTEP_ERR_REDIS_UNAVAILABLE: {
    status: 503,
    message: 'Redis (DOORSTEP_REDIS_URL) is not answering; MQTT cannot be shared with the other gateways',
  },
  DOORSTEP_ERR_DATABASE_UNAVAILABLE: {
    status: 503,
    message: 'PostgreSQL (DOORSTEP_DATABASE_URL) is not answering; the shared state cannot be reached',
  },
  DOORSTEP_ERR_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

export class DoorstepError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: unknown

  constructor(code: ErrorCode, message?: string, details?: unknown, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options)
    this.name = 'DoorstepError'
    this.code = code
    this.status = ERRORS[code].status
    this.details = details
  }
}

export function isDoorstepError(err: unknown): err is DoorstepError {
  return err instanceof DoorstepError
}
