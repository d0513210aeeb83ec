import { MapResponse, type MapUnit } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { ROLES } from '../auth/index.js'
import type { LiveStateSource } from './device-view.js'
import type { DeviceRegistry } from './registry.js'

/**
 * The dashboard's map: every unit's position and live state in one compact
 * answer, and the tile source the operator configured (or none).
 */
export async function mapRoute(
  app: FastifyInstance,
  opts: {
    registry: Pick<DeviceRegistry, 'list'>
    live: LiveStateSource
    tiles: MapResponse['tiles']
  },
): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  api.get(
    '/api/v1/map',
    {
      config: { access: ROLES.staff },
      schema: {
        summary: "Every unit's position and live state, and the map tile source (null: no tiles)",
        response: { 200: MapResponse },
      },
    },
    async (): Promise<MapResponse> => {
      const units: MapUnit[] = opts.registry.list({}).map((d) => ({
        id: d.id,
        district: d.district,
        lat: d.lat,
        lon: d.lon,
        state: opts.live.stateOf(d.id).state,
      }))
      return { at: Date.now(), tiles: opts.tiles, units }
    },
  )
}
