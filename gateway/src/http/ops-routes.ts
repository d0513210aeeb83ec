import { DeviceId, type HealthResponse, type HeartbeatsResponse } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { ROLES } from '../auth/roles.js'
import { DoorstepError } from '../errors.js'
import type { InfluxStore } from '../influx/influx-store.js'
import type { Metrics } from '../metrics.js'
import type { Presence } from '../presence/presence.js'
import type { DeviceRegistry } from '../registry/registry.js'

const HeartbeatQuery = z
  .object({
    from: z.coerce.number().int().nonnegative().optional(),
    to: z.coerce.number().int().nonnegative().optional(),
  })
  .transform((q) => {
    const to = q.to ?? Date.now()
    return { to, from: q.from ?? to - 6 * 3_600_000 }
  })
  .refine((q) => q.from < q.to, { message: 'from must be before to' })

/** Fleet health, per-unit heartbeat history and Prometheus metrics. */
export async function opsRoutes(
  app: FastifyInstance,
  opts: { presence: Presence; registry: DeviceRegistry; influx: () => InfluxStore | null; metrics: Metrics },
): Promise<void> {
  app.get(
    '/api/v1/health',
    { config: { access: ROLES.staff } },
    async (): Promise<HealthResponse> => ({
      at: Date.now(),
      ...opts.presence.health(),
    }),
  )

  app.get(
    '/api/v1/devices/:id/heartbeats',
    { config: { access: ROLES.staff } },
    async (req): Promise<HeartbeatsResponse> => {
      const { id } = z.object({ id: DeviceId }).parse(req.params)
      if (!opts.registry.get(id)) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
      const q = HeartbeatQuery.parse(req.query)
      const influx = opts.influx()
      if (!influx) throw new DoorstepError('DOORSTEP_ERR_INFLUX_UNAVAILABLE')
      try {
        // The store reads `time` as epoch ms (`epoch=ms`), which is what HeartbeatPoint promises.
        const points = (await influx.heartbeats(id, q.from, q.to)) as HeartbeatsResponse['points']
        return { device: id, from: q.from, to: q.to, points }
      } catch (err) {
        if (err instanceof DoorstepError) throw err
        throw new DoorstepError('DOORSTEP_ERR_INFLUX_UNAVAILABLE', undefined, undefined, { cause: err })
      }
    },
  )

  // Prometheus scrapes with a bearer token (`authorization.credentials` in its scrape config).
  app.get('/metrics', { config: { access: ROLES.fleet } }, async (_req, reply) => {
    reply.type(opts.metrics.registry.contentType)
    return opts.metrics.registry.metrics()
  })

  app.get('/api/v1/ping', { config: { access: 'public' } }, async () => ({ ok: true }))
}
