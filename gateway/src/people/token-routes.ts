import {
  BootstrapRetired,
  Me,
  TokenCreate,
  TokenIssued,
  TokenList,
  TokenParams,
  TokenView,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import type { TokenStore } from '../auth/index.js'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'

/** Who hears that a token stopped working: the alert sockets close theirs at once. */
export type RevocationBus = Pick<EventBus, 'emit'>

/**
 * People's tokens: admins issue (the token is in the answer once, never again),
 * list and revoke them; anyone can ask who their token says they are.
 * Issue and revoke are audited; the token itself never goes on record.
 */
export async function tokenRoutes(
  app: FastifyInstance,
  opts: { tokens: TokenStore; audit: AuditLog; bus?: RevocationBus },
): Promise<void> {
  const { tokens, audit, bus } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get(
    '/api/v1/me',
    {
      config: { access: ROLES.all },
      schema: { summary: 'Who the token says you are', response: { 200: Me } },
    },
    async (req) => {
      const p = req.principal
      if (!p) throw new DoorstepError('DOORSTEP_ERR_UNAUTHENTICATED')
      return { tokenId: p.tokenId, name: p.name, role: p.role, ownerContact: p.ownerContact }
    },
  )

  api.get(
    '/api/v1/tokens',
    {
      config: { access: ROLES.admin },
      schema: { summary: "People's tokens (never the token itself)", response: { 200: TokenList } },
    },
    async (): Promise<{ tokens: TokenView[] }> => ({
      tokens: await tokens.list(),
    }),
  )

  api.post(
    '/api/v1/tokens',
    {
      config: { access: ROLES.admin },
      schema: {
        summary: 'Issue a token; it is in this answer once',
        body: TokenCreate,
        response: { 201: TokenIssued },
      },
    },
    async (req, reply) => {
      const issued = await issueToken(tokens, audit, req.body, actorOf(req))
      reply.header('cache-control', 'no-store')
      return reply.status(201).send(issued)
    },
  )

  api.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: ROLES.admin, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: { summary: 'Revoke a token at once', params: TokenParams, response: { 200: TokenView } },
    },
    async (req) => revokeToken(tokens, audit, req.params.id, actorOf(req), bus),
  )

  api.post(
    '/api/v1/tokens/retire-bootstrap',
    {
      config: { access: ROLES.admin, errors: ['DOORSTEP_ERR_NO_ADMIN_TOKEN'] },
      schema: {
        summary:
          'Retire the bootstrap admin token (DOORSTEP_ADMIN_TOKEN) for good, once a stored admin token exists',
        response: { 200: BootstrapRetired },
      },
    },
    async (req) => retireBootstrap(tokens, audit, actorOf(req), bus),
  )
}

/** Shared by the API and the CLI: retire the bootstrap token, put it on record, close its sockets. */
export async function retireBootstrap(
  tokens: TokenStore,
  audit: AuditLog,
  actor: string,
  bus?: RevocationBus,
): Promise<BootstrapRetired> {
  const before = await tokens.bootstrapRetiredAt()
  const retiredAt = await tokens.retireBootstrap()
  if (before === null) {
    await audit.record({ actor, action: 'token.retire-bootstrap', subject: 'token:0', details: {} })
    bus?.emit('token.revoked', { tokenId: 0, at: retiredAt })
  }
  return { retiredAt }
}

/** Shared by the API and the CLI: issue and put it on record. */
export async function issueToken(
  tokens: TokenStore,
  audit: AuditLog,
  body: TokenCreate,
  actor: string,
): Promise<TokenIssued> {
  const owner = body.role === 'owner' ? (body.ownerContact ?? null) : null
  const { id, token } = await tokens.issue(body.name, body.role, owner)
  const info = await tokens.get(id)
  if (!info) throw new DoorstepError('DOORSTEP_ERR_INTERNAL')
  await audit.append({
    actor,
    action: 'token.issue',
    subject: `token:${id}`,
    details: { name: info.name, role: info.role, ownerContact: info.ownerContact },
  })
  return { ...info, token }
}

export async function revokeToken(
  tokens: TokenStore,
  audit: AuditLog,
  id: number,
  actor: string,
  bus?: RevocationBus,
): Promise<TokenView> {
  const before = await tokens.get(id)
  if (!before) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No token ${id}`)
  if (await tokens.revoke(id)) {
    await audit.append({
      actor,
      action: 'token.revoke',
      subject: `token:${id}`,
      details: { name: before.name },
    })
    // The CLI has no bus: the sockets' periodic re-check finds its revocations.
    bus?.emit('token.revoked', { tokenId: id, at: Date.now() })
  }
  return (await tokens.get(id)) ?? before
}
