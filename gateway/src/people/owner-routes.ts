import fsp from 'node:fs/promises'
import {
  Binary,
  ClipParams,
  DeviceListResponse,
  DeviceParams,
  EventList,
  type EventsQuery,
  OwnerEventsQuery,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import type { Clips } from '../clips/index.js'
import { DoorstepError } from '../errors.js'
import type { EventReader } from '../events/index.js'
import { eventView } from '../events/index.js'
import type { DeviceRegistry } from '../registry/index.js'
import { deviceView, type LiveStateSource } from '../registry/index.js'
import { ownedDevice, ownedDevices } from './owner-scope.js'

/**
 * What a homeowner (`owner` token) may read: their own units, those units'
 * events, and their clips. Staff read the same through the fleet routes;
 * these routes filter by the token's ownerContact.
 */
export async function ownerRoutes(
  app: FastifyInstance,
  opts: {
    registry: DeviceRegistry
    live: LiveStateSource
    /** Where events are read (the cluster's, when gateways share PostgreSQL and their clips). */
    reader: () => EventReader
    clips: Clips
    audit: AuditLog
  },
): Promise<void> {
  const { registry, live, clips, audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get(
    '/api/v1/my/devices',
    {
      config: { access: ROLES.owner },
      schema: { summary: "The owner's own units", response: { 200: DeviceListResponse } },
    },
    async (req) => {
      const devices = ownedDevices(registry, req.principal).map((d) => deviceView(d, live))
      return { total: devices.length, devices }
    },
  )

  api.get(
    '/api/v1/my/devices/:id/events',
    {
      config: { access: ROLES.owner, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "Events of one of the owner's units",
        params: DeviceParams,
        querystring: OwnerEventsQuery,
        response: { 200: EventList },
      },
    },
    async (req) => {
      const { id } = req.params
      ownedDevice(registry, req.principal, id)
      const q: EventsQuery = { ...req.query, device: id }
      const page = await opts.reader().query(q)
      // Owners fetch their clips through /my/clips, not the fleet clip routes.
      const events = page.events.map((e) => {
        const v = eventView(e)
        const url = v.clip.url ? `/api/v1/my/clips/${e.id}` : null
        return { ...v, clip: { ...v.clip, url, thumbUrl: null } }
      })
      return { events, nextCursor: page.nextCursor }
    },
  )

  api.get(
    '/api/v1/my/clips/:eventId',
    {
      config: {
        access: ROLES.owner,
        tokenInQuery: true,
        errors: ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_CLIP_EXPIRED'],
      },
      exposeHeadRoute: false,
      schema: {
        summary: "A clip of one of the owner's units",
        params: ClipParams,
        response: { 200: { description: 'the clip', content: { 'video/mp4': { schema: Binary } } } },
      },
    },
    async (req, reply) => {
      const { eventId } = req.params
      const ev = await opts.reader().get(eventId)
      if (!ev) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No event ${eventId}`)
      ownedDevice(registry, req.principal, ev.deviceId)
      const f = await clips.clipFile(eventId)
      let fh: fsp.FileHandle
      try {
        fh = await fsp.open(f.path, 'r')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          throw new DoorstepError('DOORSTEP_ERR_CLIP_EXPIRED')
        throw err
      }
      await audit.record({
        actor: actorOf(req),
        action: 'clip.download',
        subject: `clip:${eventId}`,
        details: { as: 'owner', deviceId: ev.deviceId },
      })
      reply.type(f.mime).header('content-length', String(f.size)).header('etag', `"${f.sha256}"`)
      return reply.send(fh.createReadStream())
    },
  )
}
