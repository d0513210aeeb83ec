import { DeviceParams, HealthResponse, HeartbeatsQuery, HeartbeatsResponse, Pong } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { InfluxStore } from '../influx/index.js'
import type { Metrics } from '../metrics.js'
import type { Presence } from '../presence/index.js'
import type { DeviceRegistry } from '../registry/index.js'

/** Fleet health, per-unit heartbeat history and Prometheus metrics. */
export async function opsRoutes(
  app: FastifyInstance,
  opts: { presence: Presence; registry: DeviceRegistry; influx: () => InfluxStore | null; metrics: Metrics },
): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  api.get(
    '/api/v1/health',
    {
      config: { access: ROLES.staff },
      schema: { summary: 'Fleet health, overall and per district', response: { 200: HealthResponse } },
    },
    async (): Promise<HealthResponse> => ({
      at: Date.now(),
      ...opts.presence.health(),
    }),
  )

  api.get(
    '/api/v1/devices/:id/heartbeats',
    {
      config: { access: ROLES.staff, errors: ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_INFLUX_UNAVAILABLE'] },
      schema: {
        summary: "A unit's heartbeat history from InfluxDB, downsampled for long ranges",
        params: DeviceParams,
        querystring: HeartbeatsQuery,
        response: { 200: HeartbeatsResponse },
      },
    },
    async (req): Promise<HeartbeatsResponse> => {
      const { id } = req.params
      if (!opts.registry.get(id)) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
      const q = req.query
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
  api.get(
    '/metrics',
    {
      config: { access: ROLES.fleet },
      schema: {
        summary: 'Prometheus metrics',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: z.string() } },
          },
        },
      },
    },
    async (_req, reply) => {
      reply.type(opts.metrics.registry.contentType)
      return opts.metrics.scrape()
    },
  )

  api.get(
    '/api/v1/ping',
    { config: { access: 'public' }, schema: { summary: 'Liveness', response: { 200: Pong } } },
    async () => ({ ok: true as const }),
  )
}
