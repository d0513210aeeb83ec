import fsp from 'node:fs/promises'
import type { Readable } from 'node:stream'
import {
  Binary,
  CampaignAction,
  CampaignCreate,
  CampaignList,
  CampaignParams,
  CampaignUnits,
  CampaignUnitsQuery,
  CampaignView,
  FirmwareImage,
  FirmwareImageList,
  FirmwareImageParams,
  FirmwareKey,
  FirmwareUploadQuery,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import { decorateDevice, deviceAuth, ROLES } from '../auth/index.js'
import { parseRange } from '../clips/index.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/index.js'
import type { Firmware } from './firmware.js'

const IMAGE_TYPE = 'application/octet-stream'
const CAMPAIGN_CHANGE = ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_CAMPAIGN_STATE'] as const

/**
 * Firmware images (admins upload, admins and ops list, units download what they were offered) and
 * campaigns (admins run them, admins and ops watch). Every change is audited.
 */
export async function firmwareRoutes(
  app: FastifyInstance,
  opts: {
    firmware: Firmware
    registry: Pick<DeviceRegistry, 'authenticate'>
    audit: Pick<AuditLog, 'record'>
    maxBytes: number
  },
): Promise<void> {
  const { firmware, audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()
  decorateDevice(app)
  // The image reaches the handler as the request stream: it is written to disk, never held in memory.
  if (app.hasContentTypeParser(IMAGE_TYPE)) app.removeContentTypeParser(IMAGE_TYPE)
  app.addContentTypeParser(IMAGE_TYPE, (_req, payload, done) => done(null, payload))

  api.post(
    '/api/v1/firmware/images',
    {
      config: {
        access: ROLES.admin,
        errors: [
          'DOORSTEP_ERR_FIRMWARE_EXISTS',
          'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
          'DOORSTEP_ERR_UNSUPPORTED_MEDIA',
        ],
      },
      bodyLimit: opts.maxBytes,
      schema: {
        summary: 'Upload a firmware image (raw body, application/octet-stream); it is stored and signed',
        querystring: FirmwareUploadQuery,
        response: { 201: FirmwareImage },
      },
    },
    async (req, reply) => {
      const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
      if (type !== IMAGE_TYPE) {
        reply.header('connection', 'close')
        throw new DoorstepError('DOORSTEP_ERR_UNSUPPORTED_MEDIA', `A firmware image is sent as ${IMAGE_TYPE}`)
      }
      const length = Number(req.headers['content-length'] ?? 0)
      if (length > opts.maxBytes) {
        reply.header('connection', 'close')
        throw new DoorstepError(
          'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
          `A firmware image may be at most ${opts.maxBytes} bytes`,
        )
      }
      const row = await firmware.images.receive(req.body as Readable, { ...req.query, by: actorOf(req) })
      await audit.record({
        actor: actorOf(req),
        action: 'firmware.upload',
        subject: `firmware:${row.id}`,
        details: { model: row.model, version: row.version, sha256: row.sha256, size: row.size },
      })
      return reply.status(201).send(firmware.table.imageView(row))
    },
  )

  api.get(
    '/api/v1/firmware/images',
    {
      config: { access: ROLES.fleet },
      schema: { summary: 'Firmware images, newest first', response: { 200: FirmwareImageList } },
    },
    async () => ({ images: (await firmware.table.images()).map((r) => firmware.table.imageView(r)) }),
  )

  api.get(
    '/api/v1/firmware/images/:id',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: 'One firmware image',
        params: FirmwareImageParams,
        response: { 200: FirmwareImage },
      },
    },
    async (req) => {
      const row = await firmware.table.image(req.params.id)
      if (!row) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such firmware image')
      return firmware.table.imageView(row)
    },
  )

  api.get(
    '/api/v1/firmware/images/:id/download',
    {
      config: {
        access: 'device',
        errors: [
          'DOORSTEP_ERR_NOT_FOUND',
          'DOORSTEP_ERR_FIRMWARE_NOT_OFFERED',
          'DOORSTEP_ERR_RANGE_NOT_SATISFIABLE',
        ],
      },
      onRequest: deviceAuth(opts.registry),
      exposeHeadRoute: false,
      schema: {
        summary: 'A unit downloads the image its update offers it, whole (200) or one byte range (206)',
        params: FirmwareImageParams,
        response: {
          200: { description: 'the image', content: { [IMAGE_TYPE]: { schema: Binary } } },
          206: { description: 'the requested range', content: { [IMAGE_TYPE]: { schema: Binary } } },
        },
      },
    },
    async (req, reply) => {
      const device = req.device as DeviceRecord
      const row = await firmware.table.image(req.params.id)
      if (!row) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such firmware image')
      // Images are not public: a unit gets one only while a campaign's offer of it is open to it.
      if (!(await firmware.table.holdsOffer(device.id, row.id)))
        throw new DoorstepError('DOORSTEP_ERR_FIRMWARE_NOT_OFFERED')
      // [RFC 9110 §8.8.3] content-addressed: the digest is a strong validator, for If-Range on a resume.
      const etag = `"${row.sha256}"`
      reply.header('accept-ranges', 'bytes').header('etag', etag).header('cache-control', 'no-store')
      let range = parseRange(req.headers.range, row.size)
      const ifRange = req.headers['if-range']
      if (typeof ifRange === 'string' && ifRange.trim() !== etag) range = null
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${row.size}`)
        throw new DoorstepError('DOORSTEP_ERR_RANGE_NOT_SATISFIABLE', undefined, { size: row.size })
      }
      if (range === null || range.start === 0) {
        await audit.record({
          actor: actorOf(req),
          action: 'firmware.download',
          subject: `firmware:${row.id}`,
          details: { range: req.headers.range ?? null },
        })
      }
      const fh = await fsp.open(firmware.images.pathOf(row), 'r')
      reply.type(IMAGE_TYPE)
      if (!range) {
        reply.header('content-length', String(row.size))
        return reply.status(200).send(fh.createReadStream())
      }
      reply.header('content-range', `bytes ${range.start}-${range.end}/${row.size}`)
      reply.header('content-length', String(range.end - range.start + 1))
      return reply.status(206).send(fh.createReadStream({ start: range.start, end: range.end }))
    },
  )

  api.get(
    '/api/v1/firmware/key',
    {
      config: { access: 'public' },
      schema: {
        summary: 'The firmware signing key (Ed25519, public): units check every image against it',
        response: { 200: FirmwareKey },
      },
    },
    async () => {
      const k = firmware.keys.current
      return { fingerprint: k.fingerprint, alg: k.alg, publicKey: k.publicKey }
    },
  )

  api.post(
    '/api/v1/campaigns',
    {
      config: { access: ROLES.admin, errors: ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_CAMPAIGN_NO_UNITS'] },
      schema: {
        summary: 'Make a campaign (a draft): the units it will update and their waves',
        body: CampaignCreate,
        response: { 201: CampaignView },
      },
    },
    async (req, reply) => {
      const c = await firmware.rollout.create(req.body, actorOf(req))
      return reply.status(201).send(await firmware.table.campaignView(c))
    },
  )

  api.get(
    '/api/v1/campaigns',
    {
      config: { access: ROLES.fleet },
      schema: {
        summary: 'Campaigns, newest first, with their units by state',
        response: { 200: CampaignList },
      },
    },
    async () => ({
      campaigns: await Promise.all(
        (await firmware.table.campaigns()).map((c) => firmware.table.campaignView(c)),
      ),
    }),
  )

  api.get(
    '/api/v1/campaigns/:id',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: { summary: 'One campaign', params: CampaignParams, response: { 200: CampaignView } },
    },
    async (req) => {
      const c = await firmware.table.campaign(req.params.id)
      if (!c) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such campaign')
      return firmware.table.campaignView(c)
    },
  )

  api.get(
    '/api/v1/campaigns/:id/units',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "Each unit's progress: state, bytes downloaded, reason of a failure",
        params: CampaignParams,
        querystring: CampaignUnitsQuery,
        response: { 200: CampaignUnits },
      },
    },
    async (req) => {
      if (!(await firmware.table.campaign(req.params.id)))
        throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'No such campaign')
      const units = await firmware.table.units(req.params.id, req.query.state)
      return { units: units.map((u) => firmware.table.unitView(u)) }
    },
  )

  const actions = {
    start: 'Start a draft campaign: the canary is offered the update',
    pause: 'Pause: no new offers; units holding one carry on',
    resume: 'Resume a paused campaign; the pause rule counts afresh',
    cancel: 'Cancel: units not yet offered are skipped; units holding an offer carry on',
  } as const
  for (const [action, summary] of Object.entries(actions) as Array<[keyof typeof actions, string]>) {
    api.post(
      `/api/v1/campaigns/:id/${action}`,
      {
        config: { access: ROLES.admin, errors: [...CAMPAIGN_CHANGE] },
        schema: { summary, params: CampaignParams, body: CampaignAction, response: { 200: CampaignView } },
      },
      async (req) => {
        const by = actorOf(req)
        const { id } = req.params
        const reason = req.body?.reason ?? null
        const r = firmware.rollout
        const c = await (action === 'start'
          ? r.begin(id, by)
          : action === 'pause'
            ? r.pause(id, by, reason)
            : action === 'resume'
              ? r.resume(id, by)
              : r.cancel(id, by, reason))
        return firmware.table.campaignView(c)
      },
    )
  }
}
