import { ALERT_SOCKET_CLOSE, type Alert, ClientFrame, type ServerFrame } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { ROLES, type TokenStore } from '../auth/index.js'
import type { EventBus } from '../event-bus.js'
import type { AlertHub } from './alert-hub.js'

/** Bytes a socket may have in flight before alerts wait in its own queue. */
const MAX_BUFFERED = 256 * 1024
/** Alerts a socket's queue holds; past it the oldest are dropped. */
const QUEUE_MAX = 1000
const PING_MS = 20_000
/**
 * How often open sockets' tokens are checked again: the backstop for revocations no bus event
 * reports (the `doorstep tokens` CLI runs in another process).
 */
const RECHECK_MS = 2000

/**
 * `/api/v1/alerts`: a live feed per socket. A slow socket never holds anyone
 * up: alerts wait in a bounded queue of its own while its send buffer is
 * full; when the queue overflows the oldest are dropped, and the socket is
 * told how many before the next alert it gets. Pings find dead sockets.
 */
export async function alertsRoute(
  app: FastifyInstance,
  opts: {
    hub: AlertHub
    /** Whether a socket's token still works: a socket outlives the check made when it opened. */
    tokens: Pick<TokenStore, 'isActive'>
    /** `token.revoked` closes that token's sockets at once. */
    bus: Pick<EventBus, 'on'>
    maxBuffered?: number
    queueMax?: number
    recheckMs?: number
  },
): Promise<void> {
  const maxBuffered = opts.maxBuffered ?? MAX_BUFFERED
  const queueMax = opts.queueMax ?? QUEUE_MAX
  const { hub, tokens } = opts

  // A revoked token must stop streaming within seconds, not when its socket happens to close.
  const byToken = new Map<WebSocket, { tokenId: number; revoke: () => void }>()
  const revokeWhere = (gone: (tokenId: number) => boolean): void => {
    for (const { tokenId, revoke } of [...byToken.values()]) if (gone(tokenId)) revoke()
  }
  const offBus = opts.bus.on('token.revoked', (e) => revokeWhere((id) => id === e.tokenId))
  let rechecking = false
  const recheck = setInterval(() => {
    if (byToken.size === 0 || rechecking) return
    rechecking = true
    const ids = new Set([...byToken.values()].map((s) => s.tokenId))
    Promise.all([...ids].map(async (id) => [id, await tokens.isActive(id)] as const))
      .then((answers) => {
        const gone = new Set(answers.filter(([, active]) => !active).map(([id]) => id))
        if (gone.size > 0) revokeWhere((id) => gone.has(id))
      })
      // A database that does not answer now is asked again at the next round; the sockets stay.
      .catch((err: Error) =>
        app.log.warn({ err: err.message }, 'could not recheck the alert sockets’ tokens'),
      )
      .finally(() => {
        rechecking = false
      })
  }, opts.recheckMs ?? RECHECK_MS)
  recheck.unref()
  app.addHook('onClose', async () => {
    offBus()
    clearInterval(recheck)
  })

  app.get(
    '/api/v1/alerts',
    {
      websocket: true,
      config: { access: ROLES.staff },
      // The frames are `ServerFrame` and `ClientFrame` in proto; the document names them.
      schema: { summary: 'Live alerts (WebSocket); resume with the last id' },
    },
    (socket: WebSocket, req) => {
      const principal = req.principal
      let districts: Set<number> | null = null
      let kinds: Set<string> | null = null
      let dropped = 0
      let alive = true
      // Live delivery starts at once; a resume replays only what came before this socket opened.
      const openedAt = hub.lastId
      const off = hub.subscribe((a) => deliver(a))
      const offClips = hub.subscribeClips((c) => {
        if (districts && !districts.has(c.district)) return
        enqueue({ type: 'clip', ...c, thumbUrl: `/api/v1/clips/${encodeURIComponent(c.eventId)}/thumb` })
      })
      // Cases are for those who may open them (the same roles as the case routes); ops see none.
      const custody = principal !== null && (ROLES.custody as readonly string[]).includes(principal.role)
      const offCases = custody ? hub.subscribeCases((f) => enqueue(f)) : () => undefined
      // Firmware campaigns are run by admins and watched by ops (the campaign routes' roles).
      const fleet = principal !== null && (ROLES.fleet as readonly string[]).includes(principal.role)
      const offCampaigns = fleet ? hub.subscribeCampaigns((f) => enqueue(f)) : () => undefined

      const send = (frame: ServerFrame): void => {
        if (socket.readyState !== socket.OPEN) return
        socket.send(JSON.stringify(frame))
      }
      const wanted = (a: Alert) => (!districts || districts.has(a.district)) && (!kinds || kinds.has(a.kind))
      // Alerts, clip hints and case progress share one queue so a slow socket keeps their order.
      const queue: ServerFrame[] = []
      let flushing = false
      // Sends what the socket can take now; each send's callback tries again.
      const flush = (): void => {
        if (flushing) return
        flushing = true
        while (queue.length > 0 && socket.readyState === socket.OPEN && socket.bufferedAmount < maxBuffered) {
          if (dropped > 0) {
            send({ type: 'dropped', count: dropped })
            dropped = 0
          }
          socket.send(JSON.stringify(queue.shift()), flushLater)
        }
        flushing = false
      }
      const flushLater = (): void => {
        if (queue.length > 0) setImmediate(flush)
      }
      const enqueue = (frame: ServerFrame): void => {
        queue.push(frame)
        // A dropped clip hint costs a thumbnail shown late; only dropped alerts are counted for the client.
        if (queue.length > queueMax && queue.shift()?.type === 'alert') dropped++
        flush()
      }
      const deliver = (a: Alert): void => {
        if (wanted(a)) enqueue({ type: 'alert', alert: a })
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
        offClips()
        offCases()
        offCampaigns()
        byToken.delete(socket)
      })
      byToken.set(socket, {
        tokenId: principal?.tokenId ?? -1,
        revoke: () => {
          byToken.delete(socket)
          off()
          offClips()
          offCases()
          offCampaigns()
          queue.length = 0
          send({ type: 'error', code: 'DOORSTEP_ERR_UNAUTHENTICATED', message: 'The token was revoked' })
          socket.close(ALERT_SOCKET_CLOSE.tokenRevoked, 'token revoked')
        },
      })
      req.log.debug({ who: principal?.name }, 'alert socket opened')
      // Sent first, so the client knows where it stands before any alert.
      send({ type: 'ready', lastId: openedAt, serverTime: Date.now(), bootId: hub.bootId })
    },
  )
}
