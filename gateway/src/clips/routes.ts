import fsp from 'node:fs/promises'
import { Binary, ClipParams, ClipUploadRoutes, NoBody } from '@doorstep/proto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRegistry } from '../registry/index.js'
import { resumableUploadRoutes } from '../uploads/index.js'
import type { Clips } from './clips.js'
import { parseRange } from './range.js'

/** [RFC 9110 §13.1.2] If-None-Match: a list of entity tags or `*`, compared weakly. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false
  const bare = (t: string) => t.trim().replace(/^W\//, '')
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag))
}

/**
 * Clip upload (units, HTTP Basic) and serving (people, bearer token or
 * `?token=` since `<video>` and `<img>` cannot send a header).
 */
export async function clipRoutes(
  app: FastifyInstance,
  opts: {
    clips: Clips
    registry: Pick<DeviceRegistry, 'authenticate'>
    maxBytes: number
    audit: Pick<AuditLog, 'record'>
  },
): Promise<void> {
  const { clips, audit } = opts
  resumableUploadRoutes(app, {
    url: '/api/v1/clips/:eventId',
    param: 'eventId',
    uploads: () => clips.uploads,
    registry: opts.registry,
    maxBytes: opts.maxBytes,
    what: 'A clip',
    reprDigest: false,
    schema: ClipUploadRoutes,
    errors: [
      'DOORSTEP_ERR_CLIP_NOT_ANNOUNCED',
      'DOORSTEP_ERR_CLIP_EXPIRED',
      'DOORSTEP_ERR_UNIT_QUOTA',
      'DOORSTEP_ERR_UNIT_UPLOADS',
      'DOORSTEP_ERR_UPLOAD_BUSY',
    ],
  })

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
    async (req, reply) => serveClip(clips, audit, req, reply, req.params.eventId),
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
      const t = await clips.thumbFile(eventId)
      const etag = `"${t.etag}"`
      reply.header('etag', etag).header('cache-control', 'private, max-age=86400')
      const bytes = matchesEtag(req.headers['if-none-match'], etag) ? null : await fsp.readFile(t.path)
      await audit.record({
        actor: actorOf(req),
        action: 'clip.view',
        subject: `clip:${eventId}`,
        details: {},
      })
      return bytes ? reply.type('image/webp').send(bytes) : reply.status(304).send()
    },
  )
}

/** [RFC 9110 §14] One byte range per request (206), or the whole file (200); 416 outside it. */
async function serveClip(
  clips: Clips,
  audit: Pick<AuditLog, 'record'>,
  req: FastifyRequest,
  reply: FastifyReply,
  eventId: string,
): Promise<FastifyReply> {
  const f = await clips.clipFile(eventId)
  // Content-addressed: the digest is a strong validator for the bytes.
  const etag = `"${f.sha256}"`
  reply
    .header('accept-ranges', 'bytes')
    .header('etag', etag)
    .header('cache-control', 'private, max-age=86400')
  let range = parseRange(req.headers.range, f.size)
  // [RFC 9110 §13.1.5] If-Range with another validator: send the whole (changed) representation.
  const ifRange = req.headers['if-range']
  if (typeof ifRange === 'string' && ifRange.trim() !== etag) range = null
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${f.size}`)
    throw new DoorstepError('DOORSTEP_ERR_RANGE_NOT_SATISFIABLE', undefined, { size: f.size })
  }
  const notModified = matchesEtag(req.headers['if-none-match'], etag)
  // A player fetches a clip in many ranges: one entry per playback, the answer that carries the
  // clip's first byte, however the Range was written.
  if (range === null || range.start === 0) {
    await audit.record({
      actor: actorOf(req),
      action: 'clip.download',
      subject: `clip:${eventId}`,
      details: { status: notModified ? 304 : range ? 206 : 200, range: req.headers.range ?? null },
    })
  }
  if (notModified) return reply.status(304).send()
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
