import fsp from 'node:fs/promises'
import type { Readable } from 'node:stream'
import {
  Binary,
  CaseCreate,
  CaseDetail,
  CaseList,
  CaseParams,
  CasePreview,
  CasePreviewQuery,
  CasesQuery,
  CaseView,
  CustodyReport,
  LegalOrder,
  PullList,
  PullParams,
  PullsCreate,
  PullView,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import type { ErrorCode } from '../errors.js'
import { closeConnectionsOnShutdown } from '../uploads/index.js'
import type { Cases } from './cases.js'
import { planExport, streamExport } from './export.js'

const NOT_FOUND = ['DOORSTEP_ERR_NOT_FOUND'] as const
/** What changes a case or its pulls may also meet: a closed case, a gateway stopping. */
const CHANGES = ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_CASE_CLOSED', 'DOORSTEP_ERR_SHUTTING_DOWN'] as const

/**
 * Cases, pulls and the evidence export: investigators and admins. Recording a
 * legal order is for admins only. Each view, download and export is audited.
 */
export async function caseRoutes(
  app: FastifyInstance,
  opts: { cases: Cases; audit: AuditLog },
): Promise<void> {
  const { cases, audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()
  const custody = (errors: readonly ErrorCode[] = []) => ({ access: ROLES.custody, errors })
  // An export still streaming would hold its keep-alive connection, and so the server, open on close.
  const streaming = new Set<Readable>()
  app.addHook('preClose', async () => {
    for (const s of streaming) s.destroy(new Error('the gateway is shutting down'))
  })
  closeConnectionsOnShutdown(app)

  api.post(
    '/api/v1/cases',
    {
      config: custody(['DOORSTEP_ERR_CASE_EXISTS', 'DOORSTEP_ERR_SHUTTING_DOWN']),
      schema: {
        summary: 'Open a case: its units and their events in the window, which are held',
        body: CaseCreate,
        response: { 201: CaseDetail },
      },
    },
    async (req, reply) => reply.status(201).send(await cases.create(req.body, actorOf(req))),
  )

  api.post(
    '/api/v1/cases/preview',
    {
      config: custody(['DOORSTEP_ERR_SHUTTING_DOWN']),
      schema: {
        summary: 'What a case would cover (units, events) before it is opened; nothing is held or recorded',
        body: CasePreviewQuery,
        response: { 200: CasePreview },
      },
    },
    async (req) => cases.preview(req.body),
  )

  api.get(
    '/api/v1/cases',
    {
      config: custody(),
      schema: { summary: 'Cases, newest first', querystring: CasesQuery, response: { 200: CaseList } },
    },
    async (req) => ({ cases: await cases.list(req.query.state) }),
  )

  api.get(
    '/api/v1/cases/:id',
    {
      config: custody(NOT_FOUND),
      schema: {
        summary: 'The case, its units with consent and pull progress, events, holds',
        params: CaseParams,
        response: { 200: CaseDetail },
      },
    },
    async (req) => {
      const { id } = req.params
      const detail = await cases.detail(id)
      await audit.record({ actor: actorOf(req), action: 'case.view', subject: `case:${id}`, details: {} })
      return detail
    },
  )

  api.post(
    '/api/v1/cases/:id/close',
    {
      config: custody(CHANGES),
      schema: {
        summary: 'Close the case: holds released, unfinished pulls end',
        params: CaseParams,
        response: { 200: CaseView },
      },
    },
    async (req) => cases.close(req.params.id, actorOf(req)),
  )

  api.post(
    '/api/v1/cases/:id/pulls',
    {
      config: custody(CHANGES),
      schema: {
        summary: "Ask the case's units (or some) for their recording of the window",
        params: CaseParams,
        // No body asks all of the case's units.
        body: PullsCreate.nullable(),
        response: { 201: PullList },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send({ pulls: await cases.requestPulls(req.params.id, req.body ?? {}, actorOf(req)) }),
  )

  api.get(
    '/api/v1/cases/:id/pulls',
    {
      config: custody(NOT_FOUND),
      schema: { summary: 'Per-unit pull progress', params: CaseParams, response: { 200: PullList } },
    },
    async (req) => ({ pulls: await cases.pullsOf(req.params.id) }),
  )

  api.get(
    '/api/v1/cases/:id/custody',
    {
      config: custody(NOT_FOUND),
      schema: {
        summary: "The case's custody log and its chain check",
        params: CaseParams,
        response: { 200: CustodyReport },
      },
    },
    async (req) => {
      const { id } = req.params
      await cases.get(id)
      return { entries: await cases.custody.entries(id), verify: await cases.custody.verify(id) }
    },
  )

  api.get(
    '/api/v1/cases/:id/export',
    {
      config: custody([...NOT_FOUND, 'DOORSTEP_ERR_CLIP_EXPIRED']),
      schema: {
        summary: 'The evidence ZIP, streamed: clips, thumbnails, manifest.json, custody.jsonl',
        params: CaseParams,
        response: {
          200: { description: 'the evidence ZIP', content: { 'application/zip': { schema: Binary } } },
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params
      const actor = actorOf(req)
      await cases.refreshHolds(id, actor)
      const plan = await planExport(cases, id)
      const { stream, done } = streamExport(cases, plan, actor, cases.signer, req.log)
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
    },
  )

  api.get(
    '/api/v1/pulls/:id',
    {
      config: custody(NOT_FOUND),
      schema: { summary: 'One pull', params: PullParams, response: { 200: PullView } },
    },
    async (req) => cases.pull(req.params.id),
  )

  api.get(
    '/api/v1/pulls/:id/recording',
    {
      config: { ...custody(NOT_FOUND), tokenInQuery: true },
      exposeHeadRoute: false,
      schema: {
        summary: 'The pulled recording',
        params: PullParams,
        response: { 200: { description: 'the recording', content: { 'video/mp4': { schema: Binary } } } },
      },
    },
    async (req, reply) => {
      const { id } = req.params
      const f = await cases.recordingFile(id)
      const fh = await fsp.open(f.path, 'r')
      await audit.record({
        actor: actorOf(req),
        action: 'clip.download',
        subject: `pull:${id}`,
        details: { caseId: f.pull.case_id, deviceId: f.pull.device_id, sha256: f.sha256 },
      })
      reply.type(f.mime).header('content-length', String(f.size)).header('etag', `"${f.sha256}"`)
      return reply.send(fh.createReadStream())
    },
  )

  api.post(
    '/api/v1/pulls/:id/legal-order',
    {
      config: { access: ROLES.admin, errors: [...CHANGES, 'DOORSTEP_ERR_PULL_STATE'] },
      schema: {
        summary: "Release a `never` unit's (or a declining owner's) footage under a legal order",
        params: PullParams,
        body: LegalOrder,
        response: { 200: PullView },
      },
    },
    async (req) => cases.consent.legalOrder(req.params.id, req.body, actorOf(req)),
  )
}
