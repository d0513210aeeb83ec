import { type ClipMedia, EventDetail, EventList, EventParams, EventsQuery, type Hold } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { EventReader } from './event-reader.js'
import { eventView } from './event-view.js'

/** What the event detail shows about the stored clip; the clips feature answers it. */
export interface ClipDetails {
  mediaOf(eventId: string): Promise<ClipMedia | null>
  holdsOf(eventId: string): Promise<Hold[]>
}

/**
 * `GET /api/v1/events` and `GET /api/v1/events/:id`, answered by the reader: the gateway's own index,
 * or with gateways sharing PostgreSQL the cluster's table.
 */
export async function eventRoutes(
  app: FastifyInstance,
  opts: { reader: () => EventReader; clips?: ClipDetails },
): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  api.get(
    '/api/v1/events',
    {
      config: { access: ROLES.staff },
      schema: {
        summary: 'Events from the index, newest first, paginated by cursor',
        querystring: EventsQuery,
        response: { 200: EventList },
      },
    },
    async (req): Promise<EventList> => {
      const page = await opts.reader().query(req.query)
      return { events: page.events.map(eventView), nextCursor: page.nextCursor }
    },
  )

  api.get(
    '/api/v1/events/:id',
    {
      config: { access: ROLES.staff, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: 'One event with clip and thumbnail links, media facts and holds',
        params: EventParams,
        response: { 200: EventDetail },
      },
    },
    async (req): Promise<EventDetail> => {
      const { id } = req.params
      const e = await opts.reader().get(id)
      if (!e) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No event ${id}`)
      return {
        ...eventView(e),
        media: (await opts.clips?.mediaOf(id)) ?? null,
        holds: (await opts.clips?.holdsOf(id)) ?? [],
      }
    },
  )
}
