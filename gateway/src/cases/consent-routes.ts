import { ConsentDecision, type ConsentRequest, Uuid } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { actorOf } from '../audit/actor.js'
import { ROLES } from '../auth/roles.js'
import type { Cases } from './cases.js'

const Params = z.object({ pullId: Uuid })

/**
 * The owner's side of consent: the requests for footage of their own units
 * (matched by the token's ownerContact), and their decision on each.
 */
export async function consentRoutes(app: FastifyInstance, opts: { cases: Cases }): Promise<void> {
  const { cases } = opts

  app.get(
    '/api/v1/my/consents',
    { config: { access: ROLES.owner } },
    async (req): Promise<{ requests: ConsentRequest[] }> => ({
      requests: cases.consent.requestsFor(req.principal),
    }),
  )

  app.post('/api/v1/my/consents/:pullId', { config: { access: ROLES.owner } }, async (req) => {
    const { pullId } = Params.parse(req.params)
    const body = ConsentDecision.parse(req.body)
    const pull = cases.consent.decide(pullId, req.principal, body, actorOf(req))
    return { pullId: pull.id, state: pull.state, consent: pull.consent }
  })
}
