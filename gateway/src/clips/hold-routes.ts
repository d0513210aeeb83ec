import { HoldCreate, HoldsQuery } from '@doorstep/proto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { ROLES } from '../auth/roles.js'
import { DoorstepError } from '../errors.js'
import type { Clips } from './clips.js'

const IdParams = z.object({ id: z.coerce.number().int().positive() })

/** The person placing or releasing a hold, as it goes on record. */
function who(req: FastifyRequest): string {
  const p = req.principal
  return p ? `${p.name} (${p.role})` : 'unknown'
}

/** Holds keep clips past retention and disk pressure: evidence custody, so admin and investigators. */
export async function holdRoutes(app: FastifyInstance, opts: { clips: Clips }): Promise<void> {
  const { clips } = opts

  app.post('/api/v1/holds', { config: { access: ROLES.custody } }, async (req, reply) => {
    const body = HoldCreate.parse(req.body)
    const hold = clips.hold(body.eventId, body.reason, who(req), body.until ?? null)
    return reply.status(201).send(hold)
  })

  app.get('/api/v1/holds', { config: { access: ROLES.custody } }, async (req) => {
    const q = HoldsQuery.parse(req.query)
    return { holds: clips.holds({ eventId: q.eventId, activeOnly: q.state === 'active' }) }
  })

  app.delete('/api/v1/holds/:id', { config: { access: ROLES.custody } }, async (req) => {
    const { id } = IdParams.parse(req.params)
    const hold = clips.release(id, who(req))
    if (!hold) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No hold ${id}`)
    return hold
  })
}
