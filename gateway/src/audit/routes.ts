import { AuditPage, AuditQuery, LogsReport } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { ROLES } from '../auth/index.js'
import type { AuditLog } from './audit-log.js'

/**
 * `GET /api/v1/audit` (paged; filtered by action, subject, actor and time) and `GET /api/v1/audit/verify`: admins only. `verify` checks the
 * logs against their signed checkpoints (the evidence feature's, handed in by the wiring).
 */
export async function auditRoutes(
  app: FastifyInstance,
  opts: { audit: AuditLog; verify: () => Promise<LogsReport> },
): Promise<void> {
  const { audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get(
    '/api/v1/audit',
    {
      config: { access: ROLES.admin },
      schema: {
        summary:
          'The audit log, oldest first; filtered by action, subject and actor (exact) and by time (`from`, `to`: ms, inclusive); 400 when `to` is before `from`',
        querystring: AuditQuery,
        response: { 200: AuditPage },
      },
    },
    async (req) => audit.list(req.query),
  )

  api.get(
    '/api/v1/audit/verify',
    {
      config: { access: ROLES.admin },
      schema: {
        summary:
          "Re-computes the audit log's and every case's custody log's hash chain and checks them against their signed checkpoints; names any entry changed, removed or cut off",
        response: { 200: LogsReport },
      },
    },
    async (): Promise<LogsReport> => opts.verify(),
  )
}
