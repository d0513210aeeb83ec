import { Hold, HoldCreate, HoldList, HoldParams, HoldsQuery } from '@doorstep/proto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { Clips } from './clips.js'

/** The person placing or releasing a hold, as it goes on record. */
function who(req: FastifyRequest): string {
  const p = req.principal
  return p ? `${p.name} (${p.role})` : 'unknown'
}

/** Holds keep clips past retention and disk pressure: evidence custody, so admin and investigators. */
export async function holdRoutes(
  app: FastifyInstance,
  opts: { clips: Clips; audit: Pick<AuditLog, 'record'> },
): Promise<void> {
  const { clips, audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post(
    '/api/v1/holds',
    {
      config: { access: ROLES.custody, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "Keep an event's clip past retention and disk pressure",
        body: HoldCreate,
        response: { 201: Hold },
      },
    },
    async (req, reply) => {
      const body = req.body
      const hold = await clips.hold(body.eventId, body.reason, who(req), body.until ?? null)
      await audit.record({
        actor: actorOf(req),
        action: 'hold.place',
        subject: `clip:${hold.eventId}`,
        details: { holdId: hold.id, reason: hold.reason, until: hold.until },
      })
      return reply.status(201).send(hold)
    },
  )

  api.get(
    '/api/v1/holds',
    {
      config: { access: ROLES.custody },
      schema: {
        summary: 'Holds in force, or all of them',
        querystring: HoldsQuery,
        response: { 200: HoldList },
      },
    },
    async (req) => {
      const q = req.query
      return { holds: await clips.holds({ eventId: q.eventId, activeOnly: q.state === 'active' }) }
    },
  )

  api.delete(
    '/api/v1/holds/:id',
    {
      config: { access: ROLES.custody, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: { summary: 'Release a hold', params: HoldParams, response: { 200: Hold } },
    },
    async (req) => {
      const { id } = req.params
      const hold = await clips.release(id, who(req))
      if (!hold) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No hold ${id}`)
      await audit.record({
        actor: actorOf(req),
        action: 'hold.release',
        subject: `clip:${hold.eventId}`,
        details: { holdId: id },
      })
      return hold
    },
  )
}
