import fsp from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { CaseCreate, CaseState, LegalOrder, PullsCreate, Uuid } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { actorOf } from '../audit/actor.js'
import type { AuditLog } from '../audit/audit-log.js'
import { ROLES } from '../auth/roles.js'
import { closeConnectionsOnShutdown } from '../uploads/upload-routes.js'
import type { Cases } from './cases.js'
import { planExport, streamExport } from './export.js'

const IdParams = z.object({ id: Uuid })
const ListQuery = z.object({ state: CaseState.optional() })

/**
 * Cases, pulls and the evidence export: investigators and admins. Recording a
 * legal order is for admins only. Each view, download and export is audited.
 */
export async function caseRoutes(
  app: FastifyInstance,
  opts: { cases: Cases; audit: AuditLog },
): Promise<void> {
  const { cases, audit } = opts
  const access = { config: { access: ROLES.custody } }
  // An export still streaming would hold its keep-alive connection, and so the server, open on close.
  const streaming = new Set<Readable>()
  app.addHook('preClose', async () => {
    for (const s of streaming) s.destroy(new Error('the gateway is shutting down'))
  })
  closeConnectionsOnShutdown(app)

  app.post('/api/v1/cases', access, async (req, reply) => {
    const body = CaseCreate.parse(req.body)
    return reply.status(201).send(cases.create(body, actorOf(req)))
  })

  app.get('/api/v1/cases', access, async (req) => {
    const q = ListQuery.parse(req.query)
    return { cases: cases.list(q.state) }
  })

  app.get('/api/v1/cases/:id', access, async (req) => {
    const { id } = IdParams.parse(req.params)
    const detail = cases.detail(id)
    audit.record({ actor: actorOf(req), action: 'case.view', subject: `case:${id}`, details: {} })
    return detail
  })

  app.post('/api/v1/cases/:id/close', access, async (req) => {
    const { id } = IdParams.parse(req.params)
    return cases.close(id, actorOf(req))
  })

  app.post('/api/v1/cases/:id/pulls', access, async (req, reply) => {
    const { id } = IdParams.parse(req.params)
    const body = PullsCreate.parse(req.body ?? {})
    return reply.status(201).send({ pulls: cases.requestPulls(id, body, actorOf(req)) })
  })

  app.get('/api/v1/cases/:id/pulls', access, async (req) => {
    const { id } = IdParams.parse(req.params)
    return { pulls: cases.pullsOf(id) }
  })

  app.get('/api/v1/cases/:id/custody', access, async (req) => {
    const { id } = IdParams.parse(req.params)
    cases.get(id)
    return { entries: cases.custody.entries(id), verify: cases.custody.verify(id) }
  })

  app.get('/api/v1/cases/:id/export', access, async (req, reply) => {
    const { id } = IdParams.parse(req.params)
    const actor = actorOf(req)
    cases.refreshHolds(id, actor)
    const plan = planExport(cases, id)
    const { stream, done } = streamExport(cases, plan, actor, req.log)
    streaming.add(stream)
    stream.on('close', () => streaming.delete(stream))
    done.then(
      (r) =>
        audit.record({
          actor,
          action: 'case.export',
          subject: `case:${id}`,
          details: { number: plan.case.number, ...r },
        }),
      (err: Error) =>
        audit.record({
          actor,
          action: 'case.export',
          subject: `case:${id}`,
          details: { number: plan.case.number, failed: err.message },
        }),
    )
    const name = `case-${plan.case.number.replace(/[^A-Za-z0-9._-]/g, '_')}.zip`
    reply
      .type('application/zip')
      .header('content-disposition', `attachment; filename="${name}"`)
      .header('cache-control', 'no-store')
    return reply.send(stream)
  })

  app.get('/api/v1/pulls/:id', access, async (req) => {
    const { id } = IdParams.parse(req.params)
    return cases.pull(id)
  })

  app.get(
    '/api/v1/pulls/:id/recording',
    { config: { access: ROLES.custody, tokenInQuery: true }, exposeHeadRoute: false },
    async (req, reply) => {
      const { id } = IdParams.parse(req.params)
      const f = cases.recordingFile(id)
      const fh = await fsp.open(f.path, 'r')
      audit.record({
        actor: actorOf(req),
        action: 'clip.download',
        subject: `pull:${id}`,
        details: { caseId: f.pull.case_id, deviceId: f.pull.device_id, sha256: f.sha256 },
      })
      reply.type(f.mime).header('content-length', String(f.size)).header('etag', `"${f.sha256}"`)
      return reply.send(fh.createReadStream())
    },
  )

  app.post('/api/v1/pulls/:id/legal-order', { config: { access: ROLES.admin } }, async (req) => {
    const { id } = IdParams.parse(req.params)
    const body = LegalOrder.parse(req.body)
    return cases.consent.legalOrder(id, body, actorOf(req))
  })
}
