import fsp from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { Binary, ClipParams, NoBody, Uuid } from '@doorstep/proto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { decorateDevice, deviceAuth } from '../auth/device-auth.js'
import { ROLES } from '../auth/roles.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/registry.js'
import type { Clips } from './clips.js'
import { parseContentRange, parseRange } from './range.js'
import { refuseOversize } from './upload-limit.js'

const Params = z.object({ eventId: Uuid })
/** Content types a unit may upload a clip as; the bytes decide what it really is (ffprobe). */
const UPLOAD_TYPES = ['application/octet-stream', 'video/mp4']

/** [RFC 9110 §13.1.2] If-None-Match: a list of entity tags or `*`, compared weakly. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false
  const bare = (t: string) => t.trim().replace(/^W\//, '')
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag))
}

function uploadHeaders(reply: FastifyReply, received: number, total: number): void {
  // The offset a resumed PUT must start at, as in the IETF resumable-uploads draft (`Upload-Offset`).
  reply.header('upload-offset', String(received))
  reply.header('upload-length', String(total))
  reply.header('cache-control', 'no-store')
}

/**
 * Clip upload (units, HTTP Basic) and serving (people, bearer token or
 * `?token=` since `<video>` and `<img>` cannot send a header).
 */
export async function clipRoutes(
  app: FastifyInstance,
  opts: { clips: Clips; registry: Pick<DeviceRegistry, 'authenticate'>; maxBytes: number },
): Promise<void> {
  const { clips } = opts
  const auth = deviceAuth(opts.registry)
  decorateDevice(app)
  // The body reaches the handler as the request stream: a clip is never gathered in memory.
  for (const type of UPLOAD_TYPES) {
    if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type)
  }
  app.addContentTypeParser(UPLOAD_TYPES, (_req, payload, done) => done(null, payload))
  // Uploads in progress would hold the server open on close; their partials stay for the resume.
  app.addHook('preClose', async () => clips.abortUploads())

  app.head(
    '/api/v1/clips/:eventId',
    { config: { access: 'device' }, onRequest: auth },
    async (req, reply) => {
      const { eventId } = Params.parse(req.params)
      const s = await clips.uploadStatus(req.device as DeviceRecord, eventId)
      uploadHeaders(reply, s.received, s.total)
      reply.header('doorstep-clip-state', s.state)
      return reply.status(200).send()
    },
  )

  app.put(
    '/api/v1/clips/:eventId',
    { config: { access: 'device' }, onRequest: auth, bodyLimit: opts.maxBytes },
    async (req, reply) => {
      const { eventId } = Params.parse(req.params)
      const contentLength = refuseOversize(req, reply, opts.maxBytes, 'A clip')
      const body = req.body as Readable | Buffer | undefined
      try {
        const { status, result } = await clips.receive({
          device: req.device as DeviceRecord,
          eventId,
          range: parseContentRange(req.headers['content-range'] as string | undefined),
          contentLength,
          body: body === undefined ? undefined : Buffer.isBuffer(body) ? [body] : body,
          abort: () => req.raw.destroy(),
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
        throw err
      }
    },
  )

  const api = app.withTypeProvider<ZodTypeProvider>()
  api.get(
    '/api/v1/clips/:eventId',
    {
      config: {
        access: ROLES.fleet,
        tokenInQuery: true,
        errors: ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_CLIP_EXPIRED', 'DOORSTEP_ERR_RANGE_NOT_SATISFIABLE'],
      },
      exposeHeadRoute: false,
      schema: {
        summary: 'The clip, whole (200) or one byte range (206); ETag, If-None-Match (304), If-Range',
        params: ClipParams,
        response: {
          200: { description: 'the whole clip', content: { 'video/mp4': { schema: Binary } } },
          206: { description: 'the requested range', content: { 'video/mp4': { schema: Binary } } },
          304: NoBody.describe('not modified'),
        },
      },
    },
    async (req, reply) => serveClip(clips, req, reply, req.params.eventId),
  )

  api.get(
    '/api/v1/clips/:eventId/thumb',
    {
      config: { access: ROLES.fleet, tokenInQuery: true, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "The clip's 320 px WebP thumbnail; ETag, If-None-Match (304)",
        params: ClipParams,
        response: {
          200: { description: 'the thumbnail', content: { 'image/webp': { schema: Binary } } },
          304: NoBody.describe('not modified'),
        },
      },
    },
    async (req, reply) => {
      const { eventId } = req.params
      const t = clips.thumbFile(eventId)
      const etag = `"${t.etag}"`
      reply.header('etag', etag).header('cache-control', 'private, max-age=86400')
      if (matchesEtag(req.headers['if-none-match'], etag)) return reply.status(304).send()
      return reply.type('image/webp').send(await fsp.readFile(t.path))
    },
  )
}

/** [RFC 9110 §14] One byte range per request (206), or the whole file (200); 416 outside it. */
async function serveClip(
  clips: Clips,
  req: FastifyRequest,
  reply: FastifyReply,
  eventId: string,
): Promise<FastifyReply> {
  const f = clips.clipFile(eventId)
  // Content-addressed: the digest is a strong validator for the bytes.
  const etag = `"${f.sha256}"`
  reply
    .header('accept-ranges', 'bytes')
    .header('etag', etag)
    .header('cache-control', 'private, max-age=86400')
  if (matchesEtag(req.headers['if-none-match'], etag)) return reply.status(304).send()
  let range = parseRange(req.headers.range, f.size)
  // [RFC 9110 §13.1.5] If-Range with another validator: send the whole (changed) representation.
  const ifRange = req.headers['if-range']
  if (typeof ifRange === 'string' && ifRange.trim() !== etag) range = null
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${f.size}`)
    throw new DoorstepError('DOORSTEP_ERR_RANGE_NOT_SATISFIABLE', undefined, { size: f.size })
  }
  let fh: fsp.FileHandle
  try {
    // Opened before answering: retention may unlink the name, the open file stays readable.
    fh = await fsp.open(f.path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DoorstepError('DOORSTEP_ERR_CLIP_EXPIRED')
    throw err
  }
  reply.type(f.mime)
  if (!range) {
    reply.header('content-length', String(f.size))
    return reply.status(200).send(fh.createReadStream())
  }
  reply.header('content-range', `bytes ${range.start}-${range.end}/${f.size}`)
  reply.header('content-length', String(range.end - range.start + 1))
  return reply.status(206).send(fh.createReadStream({ start: range.start, end: range.end }))
}
