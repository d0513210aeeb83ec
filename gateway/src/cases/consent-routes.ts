import {
  ConsentDecided,
  ConsentDecision,
  ConsentParams,
  type ConsentRequest,
  ConsentRequests,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import type { Cases } from './cases.js'

/**
 * The owner's side of consent: the requests for footage of their own units
 * (matched by the token's ownerContact), and their decision on each.
 */
export async function consentRoutes(app: FastifyInstance, opts: { cases: Cases }): Promise<void> {
  const { cases } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get(
    '/api/v1/my/consents',
    {
      config: { access: ROLES.owner },
      schema: {
        summary: "Requests for footage of the owner's units, waiting ones first",
        response: { 200: ConsentRequests },
      },
    },
    async (req): Promise<{ requests: ConsentRequest[] }> => ({
      requests: await cases.consent.requestsFor(req.principal),
    }),
  )

  api.post(
    '/api/v1/my/consents/:pullId',
    {
      config: {
        access: ROLES.owner,
        errors: ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_CASE_CLOSED', 'DOORSTEP_ERR_CONSENT_DECIDED'],
      },
      schema: {
        summary: 'Approve or decline a request; who and when is recorded',
        params: ConsentParams,
        body: ConsentDecision,
        response: { 200: ConsentDecided },
      },
    },
    async (req) => {
      const pull = await cases.consent.decide(req.params.pullId, req.principal, req.body, actorOf(req))
      return { pullId: pull.id, state: pull.state, consent: pull.consent }
    },
  )
}
