import type https from 'node:https'
import type { FastifyInstance } from 'fastify'

/**
 * Serves the same app over a second server (HTTPS): its requests go through the app's router, and its
 * WebSocket upgrades to the app's own server, where @fastify/websocket listens for them. One app, one
 * set of routes, hooks and roles, whichever port a request came in on.
 */
export async function listenHttps(
  app: FastifyInstance,
  server: https.Server,
  at: { host: string; port: number },
): Promise<void> {
  // Fastify's timeouts, not Node's defaults: Node's 300 s request timeout would cut a long clip
  // upload on a slow uplink, which the plain port lets finish.
  const plain = app.server
  server.requestTimeout = plain.requestTimeout
  server.headersTimeout = plain.headersTimeout
  server.keepAliveTimeout = plain.keepAliveTimeout
  server.timeout = plain.timeout
  server.on('request', (req, res) => app.routing(req, res))
  server.on('upgrade', (req, socket, head) => app.server.emit('upgrade', req, socket, head))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => app.log.error({ err }, 'HTTPS server error'))
}

/**
 * Stops accepting and ends keep-alive and in-flight requests at once, as the app's own server does on
 * close (`forceCloseConnections`); upgraded WebSockets are ended by the app's close.
 */
export function closeHttps(server: https.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections()
  return closed
}
