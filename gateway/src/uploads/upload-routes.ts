import type { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify'
import { decorateDevice, deviceAuth } from '../auth/index.js'
import { DoorstepError, type ErrorCode } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/index.js'
import type { ResumableUploads, UploadAnswer } from './resumable-uploads.js'
import { declaredSha256, parseContentRange } from './upload-headers.js'

/** Content types a unit may upload as; the bytes decide what it really is (ffprobe). */
const UPLOAD_TYPES = ['application/octet-stream', 'video/mp4']

/** Codes every upload answers with, `HEAD` or `PUT`, besides those of device authentication. */
const UPLOAD_ERRORS: readonly ErrorCode[] = [
  'DOORSTEP_ERR_NOT_FOUND',
  'DOORSTEP_ERR_FORBIDDEN',
  'DOORSTEP_ERR_SHUTTING_DOWN',
]
/** And those of sending bytes. */
const PUT_ERRORS: readonly ErrorCode[] = [
  ...UPLOAD_ERRORS,
  'DOORSTEP_ERR_UPLOAD_OFFSET',
  'DOORSTEP_ERR_CLIP_HASH_MISMATCH',
  'DOORSTEP_ERR_CLIP_NOT_VIDEO',
  'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
  'DOORSTEP_ERR_UNSUPPORTED_MEDIA',
  'DOORSTEP_ERR_MEDIA_BUSY',
]

export interface UploadRouteOptions<Job, Result extends UploadAnswer> {
  /** The URL of both methods, with one UUID parameter: `/api/v1/clips/:eventId`. */
  url: string
  /** The name of that parameter. */
  param: string
  /** A getter: the feature makes its uploads in its own `start()`. */
  uploads: () => ResumableUploads<Job, Result>
  registry: Pick<DeviceRegistry, 'authenticate'>
  maxBytes: number
  /** `A clip`, `A recording`: the subject of the too-large message. */
  what: string
  /** Whether a `Repr-Digest` (RFC 9530) the unit sends is checked against the bytes. */
  reprDigest: boolean
  /** The two routes' schemas from proto (`ClipUploadRoutes`, `PullUploadRoutes`). */
  schema: { head: FastifySchema; put: FastifySchema }
  /** Codes this target answers with beyond every upload's (e.g. a pull's state). */
  errors: readonly ErrorCode[]
}

function uploadHeaders(reply: FastifyReply, received: number, total: number | null): void {
  // The offset a resumed PUT must start at, as in the IETF resumable-uploads draft (`Upload-Offset`).
  reply.header('upload-offset', String(received))
  if (total !== null) reply.header('upload-length', String(total))
  reply.header('cache-control', 'no-store')
}

/**
 * Upload routes hand the body over as a stream, so Fastify's bodyLimit does
 * not stop an oversized one: the announced Content-Length is checked here,
 * before a byte is read, and the connection closed so the rest is not read.
 * Returns the announced length, if any.
 */
function refuseOversize(
  req: FastifyRequest,
  reply: FastifyReply,
  maxBytes: number,
  what: string,
): number | undefined {
  const length = req.headers['content-length']
  const contentLength = length === undefined ? undefined : Number(length)
  if (contentLength !== undefined && contentLength > maxBytes) {
    reply.header('connection', 'close')
    throw new DoorstepError('DOORSTEP_ERR_PAYLOAD_TOO_LARGE', `${what} may be at most ${maxBytes} bytes`)
  }
  return contentLength
}

/**
 * Only the upload types are taken, and anything else is refused before a byte
 * of its body is read ([RFC 9110 §15.5.16] 415). Without this, a JSON or text
 * body would reach Fastify's own parsers, which gather it in memory up to the
 * route's bodyLimit (the clip size limit) before the handler could refuse it.
 * A request with no body (the `bytes *\/TOTAL` finish) needs no type. The
 * connection is closed after the answer, so the rest of the body is not read.
 */
async function refuseContentType(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const header = req.headers['content-type']
  const type = header?.split(';')[0]?.trim().toLowerCase()
  if (type !== undefined && type !== '' ? UPLOAD_TYPES.includes(type) : !hasBody(req)) return
  reply.header('connection', 'close')
  throw new DoorstepError(
    'DOORSTEP_ERR_UNSUPPORTED_MEDIA',
    `An upload is sent as ${UPLOAD_TYPES.join(' or ')}, not ${type || 'without a Content-Type'}`,
  )
}

/** [RFC 9112 §6.3] a request has a body when it says a length above 0 or a transfer coding. */
function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Answers sent once the server is closing carry `Connection: close`. Node closes
 * the idle keep-alive connections once, when `close()` starts; a request still
 * being handled then (an upload being probed, an export streaming) would
 * otherwise leave its connection open after the answer, and the server with it,
 * until the keep-alive timeout (72 s in Fastify).
 */
export function closeConnectionsOnShutdown(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close')
    return payload
  })
}

/**
 * `HEAD` and `PUT` of one resumable upload (device Basic auth). `HEAD` says
 * how many bytes the gateway holds (`Upload-Offset`, `Upload-Length`) and, in
 * `Doorstep-Clip-State`, how far it is; `PUT` with `Content-Range: bytes
 * N-M/TOTAL` continues, `bytes *\/TOTAL` finishes. Call it inside the
 * feature's plugin: the body parsers and hooks it adds stay there.
 */
export function resumableUploadRoutes<Job, Result extends UploadAnswer>(
  app: FastifyInstance,
  opts: UploadRouteOptions<Job, Result>,
): void {
  // Validated by the route's schema (a UUID) before the handler runs.
  const idOf = (req: FastifyRequest): string => (req.params as Record<string, string>)[opts.param] as string
  const auth = deviceAuth(opts.registry)
  decorateDevice(app)
  // The body reaches the handler as the request stream: an upload is never gathered in memory.
  for (const type of UPLOAD_TYPES) {
    if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type)
  }
  app.addContentTypeParser(UPLOAD_TYPES, (_req, payload, done) => done(null, payload))
  // Uploads in progress would hold the server open on close; their partials stay for the resume.
  app.addHook('preClose', async () => opts.uploads().abortAll())
  closeConnectionsOnShutdown(app)

  const headConfig = { access: 'device' as const, errors: [...UPLOAD_ERRORS, ...opts.errors] }
  const putConfig = { access: 'device' as const, errors: [...PUT_ERRORS, ...opts.errors] }
  app.head(
    opts.url,
    { config: headConfig, schema: opts.schema.head, onRequest: auth },
    async (req, reply) => {
      const id = idOf(req)
      const s = await opts.uploads().status(id, (req.device as DeviceRecord).id)
      uploadHeaders(reply, s.received, s.total)
      reply.header('doorstep-clip-state', s.state)
      return reply.status(200).send()
    },
  )

  app.put(
    opts.url,
    {
      config: putConfig,
      schema: opts.schema.put,
      // The type first: refusing a body we would never read costs no password check.
      onRequest: [refuseContentType, auth],
      bodyLimit: opts.maxBytes,
    },
    async (req, reply) => {
      const id = idOf(req)
      const contentLength = refuseOversize(req, reply, opts.maxBytes, opts.what)
      const body = req.body as Readable | Buffer | undefined
      try {
        const { status, result } = await opts.uploads().receive({
          id,
          deviceId: (req.device as DeviceRecord).id,
          range: parseContentRange(req.headers['content-range'] as string | undefined),
          contentLength,
          body: body === undefined ? undefined : Buffer.isBuffer(body) ? [body] : body,
          declaredSha256: opts.reprDigest ? declaredSha256(req.headers['repr-digest']) : null,
          // The socket, not the request: a request whose body is all in (being hashed or probed)
          // ignores `destroy()`, and its keep-alive connection would hold the server open on close.
          abort: () => req.raw.socket.destroy(),
        })
        uploadHeaders(reply, result.received, result.total)
        return reply.status(status).send(result)
      } catch (err) {
        // Whatever of the body is still in flight is not wanted; do not read it to reuse the socket.
        if (!req.raw.readableEnded) reply.header('connection', 'close')
        if (err instanceof DoorstepError && err.code === 'DOORSTEP_ERR_UPLOAD_OFFSET') {
          const d = err.details as { received: number; total: number }
          uploadHeaders(reply, d.received, d.total)
        }
        if (err instanceof DoorstepError && err.code === 'DOORSTEP_ERR_UPLOAD_BUSY') {
          reply.header('retry-after', String((err.details as { retryAfterS: number }).retryAfterS))
        }
        throw err
      }
    },
  )
}
