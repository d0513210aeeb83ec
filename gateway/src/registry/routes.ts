import {
  DeviceCreate,
  DeviceCredentials,
  DeviceImport,
  DeviceImportResult,
  DeviceListQuery,
  DeviceListResponse,
  DeviceParams,
  DeviceSecretRotated,
  DeviceView,
} from '@doorstep/proto'
import { parse as parseCsv } from 'csv-parse/sync'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { type AuditLog, actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import { deviceView, type LiveStateSource } from './device-view.js'
import type { DeviceRegistry } from './registry.js'

/** CSV columns map to DeviceCreate fields; numbers and booleans arrive as text. */
function csvRows(text: string): unknown[] {
  const records = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Array<
    Record<string, string>
  >
  return records.map((r) => ({
    ...r,
    district: r.district === undefined ? undefined : Number(r.district),
    lat: r.lat === undefined ? undefined : Number(r.lat),
    lon: r.lon === undefined ? undefined : Number(r.lon),
    enabled:
      r.enabled === undefined || r.enabled === '' ? undefined : r.enabled === 'true' || r.enabled === '1',
    id: r.id === '' ? undefined : r.id,
  }))
}

export async function registryRoutes(
  app: FastifyInstance,
  opts: {
    registry: DeviceRegistry
    live: LiveStateSource
    audit: Pick<AuditLog, 'record'>
    /** Hears `device.revoked`: the broker closes the unit's live connection, HTTP cuts its uploads. */
    bus: Pick<EventBus, 'emit'>
  },
): Promise<void> {
  const { registry, live, audit, bus } = opts
  const mustGet = (id: string) => {
    const d = registry.get(id)
    if (!d) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
    return d
  }
  const api = app.withTypeProvider<ZodTypeProvider>()

  app.addContentTypeParser(
    'text/csv',
    { parseAs: 'string', bodyLimit: 16 * 1024 * 1024 },
    (_req, body, done) => {
      try {
        done(null, csvRows(body as string))
      } catch (err) {
        done(
          new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', `CSV could not be read: ${(err as Error).message}`),
          undefined,
        )
      }
    },
  )

  api.post(
    '/api/v1/devices',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_DEVICE_EXISTS'] },
      schema: {
        summary: 'Provision a unit; its secret is in this answer once',
        body: DeviceCreate,
        response: { 201: DeviceCredentials },
      },
    },
    async (req, reply) => {
      const creds = await registry.create(req.body)
      req.log.info({ device: creds.id }, 'device provisioned')
      return reply.status(201).send(creds)
    },
  )

  api.post(
    '/api/v1/devices/import',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_IMPORT_INVALID', 'DOORSTEP_ERR_DEVICE_EXISTS'] },
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        summary: 'Provision many units from JSON or CSV: all rows or none',
        body: DeviceImport,
        response: { 201: DeviceImportResult },
      },
    },
    async (req, reply) => {
      const created = await registry.importMany(req.body)
      req.log.info({ count: created.length }, 'devices imported')
      return reply.status(201).send({ created })
    },
  )

  api.get(
    '/api/v1/devices/:id',
    {
      config: { access: ROLES.staff, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: 'One unit with its live state',
        params: DeviceParams,
        response: { 200: DeviceView },
      },
    },
    async (req) => {
      const { id } = req.params
      const d = registry.get(id)
      if (!d) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
      return deviceView(d, live)
    },
  )

  api.get(
    '/api/v1/devices',
    {
      config: { access: ROLES.staff },
      schema: {
        summary: 'Units with live state and last heartbeat',
        querystring: DeviceListQuery,
        response: { 200: DeviceListResponse },
      },
    },
    async (req) => {
      const q = req.query
      let records = registry.list({ district: q.district })
      if (q.q !== undefined) {
        const needle = q.q.toLowerCase()
        records = records.filter(
          (d) =>
            d.id.toLowerCase().includes(needle) ||
            d.serial.toLowerCase().includes(needle) ||
            d.address.toLowerCase().includes(needle),
        )
      }
      let views = records.map((d) => deviceView(d, live))
      if (q.state) views = views.filter((v) => v.state === q.state)
      return { total: views.length, devices: views.slice(q.offset, q.offset + q.limit) }
    },
  )

  // Revocation that takes effect now: the registry refuses the unit's next check (MQTT and HTTP
  // Basic alike) and the bus tells the broker to close its live connection, so a stolen or
  // decommissioned unit stops at once rather than at its next reconnect.
  for (const enabled of [false, true]) {
    api.post(
      `/api/v1/devices/:id/${enabled ? 'enable' : 'disable'}`,
      {
        config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
        schema: {
          summary: enabled
            ? 'Let a disabled unit connect and upload again'
            : 'Disable a unit: its live MQTT connection is closed and its uploads refused from now on',
          params: DeviceParams,
          response: { 200: DeviceView },
        },
      },
      async (req) => {
        const { id } = req.params
        const before = mustGet(id)
        await registry.setEnabled(id, enabled)
        if (before.enabled !== enabled) {
          await audit.record({
            actor: actorOf(req),
            action: enabled ? 'device.enable' : 'device.disable',
            subject: `device:${id}`,
            details: { district: before.district },
          })
          req.log.info({ device: id }, enabled ? 'device enabled' : 'device disabled')
        }
        // Also when it already was: a disabled unit has no business holding a connection.
        if (!enabled) bus.emit('device.revoked', { deviceId: id, reason: 'disabled', at: Date.now() })
        return deviceView(mustGet(id), live)
      },
    )
  }

  api.post(
    '/api/v1/devices/:id/rotate-secret',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: 'Give a unit a new secret, in this answer once; the old one stops working now',
        params: DeviceParams,
        response: { 200: DeviceSecretRotated },
      },
    },
    async (req, reply) => {
      const { id } = req.params
      const d = mustGet(id)
      const secret = await registry.rotateSecret(id)
      const rotatedAt = Date.now()
      // Never the secret: the audit log and the server log name the unit only.
      await audit.record({
        actor: actorOf(req),
        action: 'device.rotate-secret',
        subject: `device:${id}`,
        details: { district: d.district },
      })
      bus.emit('device.revoked', { deviceId: id, reason: 'rotated', at: rotatedAt })
      req.log.info({ device: id }, 'device secret rotated')
      reply.header('cache-control', 'no-store')
      return { id, secret, rotatedAt }
    },
  )
}
