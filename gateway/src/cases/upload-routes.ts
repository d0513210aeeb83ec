import type { Readable } from 'node:stream'
import { Uuid } from '@doorstep/proto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { decorateDevice, deviceAuth } from '../auth/device-auth.js'
import { parseContentRange } from '../clips/range.js'
import { refuseOversize } from '../clips/upload-limit.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/registry.js'
import type { PullUploads } from './pull-uploads.js'

const Params = z.object({ id: Uuid })
const UPLOAD_TYPES = ['application/octet-stream', 'video/mp4']

function uploadHeaders(reply: FastifyReply, received: number, total: number | null): void {
  reply.header('upload-offset', String(received))
  if (total !== null) reply.header('upload-length', String(total))
  reply.header('cache-control', 'no-store')
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
 * `[RFC 9530] Repr-Digest: sha-256=:BASE64:`: the digest of the whole
 * recording, when the unit sends one. Other algorithms are ignored.
 */
export function declaredSha256(header: string | string[] | undefined): string | null {
  const v = Array.isArray(header) ? header.join(',') : header
  if (!v) return null
  const m = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):/.exec(v)
  if (!m?.[1]) return null
  const hex = Buffer.from(m[1], 'base64').toString('hex')
  if (hex.length !== 64)
    throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'Repr-Digest: sha-256 must be 32 bytes')
  return hex
}

/**
 * Where a unit uploads the recording a `pull` command asked for (its
 * `uploadPath`): the same protocol as event clips. `HEAD` says how many bytes
 * the gateway holds (`Upload-Offset`) and, with `Doorstep-Clip-State: ready`,
 * that it is stored; `PUT` with `Content-Range: bytes N-M/TOTAL` continues,
 * `bytes *\/TOTAL` finishes. Device Basic auth; only the unit the pull was sent to.
 */
export async function pullUploadRoutes(
  app: FastifyInstance,
  opts: { uploads: () => PullUploads; registry: Pick<DeviceRegistry, 'authenticate'>; maxBytes: number },
): Promise<void> {
  const auth = deviceAuth(opts.registry)
  decorateDevice(app)
  for (const type of UPLOAD_TYPES) {
    if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type)
  }
  app.addContentTypeParser(UPLOAD_TYPES, (_req, payload, done) => done(null, payload))
  app.addHook('preClose', async () => opts.uploads().abortAll())
  closeConnectionsOnShutdown(app)

  app.head(
    '/api/v1/pulls/:id/upload',
    { config: { access: 'device' }, onRequest: auth },
    async (req, reply) => {
      const { id } = Params.parse(req.params)
      const s = await opts.uploads().status(id, (req.device as DeviceRecord).id)
      uploadHeaders(reply, s.received, s.total)
      reply.header('doorstep-clip-state', s.stored ? 'ready' : s.received > 0 ? 'uploading' : 'pending')
      return reply.status(200).send()
    },
  )

  app.put(
    '/api/v1/pulls/:id/upload',
    { config: { access: 'device' }, onRequest: auth, bodyLimit: opts.maxBytes },
    async (req, reply) => {
      const { id } = Params.parse(req.params)
      const contentLength = refuseOversize(req, reply, opts.maxBytes, 'A recording')
      const body = req.body as Readable | Buffer | undefined
      try {
        const { status, result } = await opts.uploads().receive({
          pullId: id,
          deviceId: (req.device as DeviceRecord).id,
          range: parseContentRange(req.headers['content-range'] as string | undefined),
          contentLength,
          body: body === undefined ? undefined : Buffer.isBuffer(body) ? [body] : body,
          declaredSha256: declaredSha256(req.headers['repr-digest']),
          // The socket, not the request: a request whose body is all in (being probed) ignores
          // `destroy()`, and its keep-alive connection would hold the server open on close.
          abort: () => req.raw.socket.destroy(),
        })
        uploadHeaders(reply, result.received, result.total)
        return reply.status(status).send(result)
      } catch (err) {
        if (!req.raw.readableEnded) reply.header('connection', 'close')
        if (err instanceof DoorstepError && err.code === 'DOORSTEP_ERR_UPLOAD_OFFSET') {
          const d = err.details as { received: number; total: number }
          uploadHeaders(reply, d.received, d.total)
        }
        throw err
      }
    },
  )
}
