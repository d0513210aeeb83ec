import { type Alert, ClientFrame, type ServerFrame } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { ROLES } from '../auth/roles.js'
import type { AlertHub } from './alert-hub.js'

/** Bytes a socket may have unsent before alerts for it are dropped. */
const MAX_BUFFERED = 1024 * 1024
const PING_MS = 20_000

/**
 * `/api/v1/alerts`: a live feed per socket. A slow socket never holds anyone
 * up: when its send buffer is full, alerts for it are dropped (oldest first,
 * since the newest are sent as soon as there is room) and it is told how many.
 * Pings find dead sockets.
 */
export async function alertsRoute(app: FastifyInstance, opts: { hub: AlertHub }): Promise<void> {
  const { hub } = opts
  app.get(
    '/api/v1/alerts',
    { websocket: true, config: { access: ROLES.staff } },
    (socket: WebSocket, req) => {
      const principal = req.principal
      let districts: Set<number> | null = null
      let kinds: Set<string> | null = null
      let dropped = 0
      let alive = true
      // Live delivery starts at once; a resume replays only what came before this socket opened.
      const openedAt = hub.lastId
      const off = hub.subscribe((a) => deliver(a))

      const send = (frame: ServerFrame): void => {
        if (socket.readyState !== socket.OPEN) return
        socket.send(JSON.stringify(frame))
      }
      const wanted = (a: Alert) => (!districts || districts.has(a.district)) && (!kinds || kinds.has(a.kind))
      const deliver = (a: Alert): void => {
        if (!wanted(a)) return
        if (socket.bufferedAmount > MAX_BUFFERED) {
          dropped++
          return
        }
        if (dropped > 0) {
          send({ type: 'dropped', count: dropped })
          dropped = 0
        }
        send({ type: 'alert', alert: a })
      }

      socket.on('message', (data) => {
        let frame: ClientFrame
        try {
          frame = ClientFrame.parse(JSON.parse(String(data)))
        } catch {
          send({
            type: 'error',
            code: 'DOORSTEP_ERR_BAD_REQUEST',
            message: 'frame is not a valid subscribe frame',
          })
          return
        }
        districts = frame.districts ? new Set(frame.districts) : null
        kinds = frame.kinds ? new Set(frame.kinds) : null
        if (frame.lastId !== undefined && frame.lastId < openedAt) {
          const { alerts, gap } = hub.since(frame.lastId)
          if (gap) send({ type: 'gap', afterId: frame.lastId, untilId: (alerts[0]?.id ?? openedAt + 1) - 1 })
          for (const a of alerts) if (a.id <= openedAt) deliver(a)
        }
      })
      socket.on('pong', () => {
        alive = true
      })
      const pinger = setInterval(() => {
        if (!alive) {
          socket.terminate()
          return
        }
        alive = false
        socket.ping()
      }, PING_MS)
      socket.on('close', () => {
        clearInterval(pinger)
        off()
      })
      req.log.debug({ who: principal?.name }, 'alert socket opened')
      // Sent first, so the client knows where it stands before any alert.
      send({ type: 'ready', lastId: openedAt, serverTime: Date.now() })
    },
  )
}
