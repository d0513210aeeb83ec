import { AuditQuery, type ChainReport } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import { ROLES } from '../auth/roles.js'
import type { AuditLog } from './audit-log.js'

/** `GET /api/v1/audit` (paged, filtered) and `GET /api/v1/audit/verify`: admins only. */
export async function auditRoutes(app: FastifyInstance, opts: { audit: AuditLog }): Promise<void> {
  const { audit } = opts

  app.get('/api/v1/audit', { config: { access: ROLES.admin } }, async (req) => {
    const q = AuditQuery.parse(req.query)
    return audit.list(q)
  })

  app.get(
    '/api/v1/audit/verify',
    { config: { access: ROLES.admin } },
    async (): Promise<ChainReport> => audit.verify(),
  )
}
