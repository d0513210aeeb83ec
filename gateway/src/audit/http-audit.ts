import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { actorOf } from './actor.js'
import type { AuditLog, AuditRecord } from './audit-log.js'

type Watch = (req: FastifyRequest, reply: FastifyReply, payload: unknown) => AuditRecord | null

const params = (req: FastifyRequest) => req.params as Record<string, string>

/** `bytes=0-…` or no Range: the start of a playback or a download, not each later range of it. */
function startsAtZero(req: FastifyRequest): boolean {
  const r = req.headers.range
  return r === undefined || /^bytes=0-/.test(r.trim())
}

function jsonOf(payload: unknown): Record<string, unknown> | null {
  if (typeof payload !== 'string') return null
  try {
    const v: unknown = JSON.parse(payload)
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null
  } catch {
    return null
  }
}

/**
 * Routes of other features whose use of a clip is audited from the outside,
 * so those features need not know about the audit log. Keyed by method and
 * route pattern. A media player fetches a clip in many ranges: one entry per
 * playback (the request that starts at byte 0), not per range.
 */
const WATCHED: Record<string, Watch> = {
  'GET /api/v1/clips/:eventId': (req, reply) =>
    (reply.statusCode === 200 || reply.statusCode === 206 || reply.statusCode === 304) && startsAtZero(req)
      ? {
          actor: actorOf(req),
          action: 'clip.download',
          subject: `clip:${params(req).eventId}`,
          details: { status: reply.statusCode, range: req.headers.range ?? null },
        }
      : null,
  'GET /api/v1/clips/:eventId/thumb': (req, reply) =>
    reply.statusCode === 200 || reply.statusCode === 304
      ? { actor: actorOf(req), action: 'clip.view', subject: `clip:${params(req).eventId}`, details: {} }
      : null,
  'POST /api/v1/holds': (req, reply, payload) => {
    if (reply.statusCode !== 201) return null
    const hold = jsonOf(payload)
    return {
      actor: actorOf(req),
      action: 'hold.place',
      subject: `clip:${String(hold?.eventId ?? '')}`,
      details: { holdId: hold?.id ?? null, reason: hold?.reason ?? null, until: hold?.until ?? null },
    }
  },
  'DELETE /api/v1/holds/:id': (req, reply, payload) => {
    if (reply.statusCode !== 200) return null
    const hold = jsonOf(payload)
    return {
      actor: actorOf(req),
      action: 'hold.release',
      subject: `clip:${String(hold?.eventId ?? '')}`,
      details: { holdId: Number(params(req).id) },
    }
  },
}

/**
 * Appends audit entries for successful requests to the routes in WATCHED.
 * Not encapsulated (fastify-plugin), so it sees every route of the app.
 */
export const httpAudit = fp(
  async (app: FastifyInstance, opts: { audit: AuditLog }) => {
    app.addHook('onSend', async (req, reply, payload) => {
      const url = req.routeOptions.url
      if (url === undefined) return payload
      const watch = WATCHED[`${req.method} ${url}`]
      const rec = watch?.(req, reply, payload)
      if (rec) opts.audit.record(rec)
      return payload
    })
  },
  { name: 'doorstep-http-audit' },
)
