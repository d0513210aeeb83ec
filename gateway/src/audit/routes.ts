import { AuditPage, AuditQuery, ChainReport } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { ROLES } from '../auth/index.js'
import type { AuditLog } from './audit-log.js'

/** `GET /api/v1/audit` (paged, filtered) and `GET /api/v1/audit/verify`: admins only. */
export async function auditRoutes(app: FastifyInstance, opts: { audit: AuditLog }): Promise<void> {
  const { audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get(
    '/api/v1/audit',
    {
      config: { access: ROLES.admin },
      schema: {
        summary: 'The audit log, oldest first',
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
        summary: "Re-computes the audit log's hash chain; names any entry that was changed",
        response: { 200: ChainReport },
      },
    },
    async (): Promise<ChainReport> => audit.verify(),
  )
}
