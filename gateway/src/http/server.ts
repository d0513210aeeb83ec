import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { TokenStore } from '../auth/index.js'
import { AuthThrottle, rolesPlugin } from '../auth/index.js'
import { loadConfig } from '../config.js'
import type { EventBus } from '../event-bus.js'
import type { Logger } from '../log.js'
import { installErrorHandler } from './error-handler.js'
import { registerOpenApi } from './openapi.js'

export const DASHBOARD_DIST = path.resolve(fileURLToPath(import.meta.url), '../../../../dashboard/dist')

/**
 * Builds the HTTP app without listening, so tests can `inject()` into it.
 * Features add their own route plugins to the returned instance.
 */
export async function buildHttp(opts: {
  log: Logger
  tokens: TokenStore
  /** Failed authentications an address may make per window (config `authThrottle`). */
  authThrottle?: { limit: number; windowMs: number }
  /** The throttle to use, when the caller reads its counts (the gateway's metrics); else one is made. */
  throttle?: AuthThrottle
  /** Hears `device.revoked`: a revoked unit's requests in flight are cut. */
  bus?: Pick<EventBus, 'on'>
  bodyLimit?: number
  /** Load balancers whose X-Forwarded-For names the client (addresses or CIDR blocks); none: the peer is. */
  trustedProxies?: readonly string[]
}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.log.child({ feature: 'http' }) as FastifyBaseLogger,
    // Per-request lines would drown the log at fleet scale; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Only the configured proxies: a client's own X-Forwarded-For would let it pick the address that
    // the sign-in throttle counts against.
    trustProxy: opts.trustedProxies?.length ? [...opts.trustedProxies] : false,
    // On stop, end keep-alive and in-flight connections at once: an upload cut here resumes later.
    forceCloseConnections: true,
  })
  installErrorHandler(app)
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } })
  // Unset (tests that build the app alone): the configuration's defaults, stated once in config.ts.
  const throttle = opts.throttle ?? new AuthThrottle(opts.authThrottle ?? loadConfig({}).authThrottle)
  await app.register(rolesPlugin, { tokens: opts.tokens, throttle, bus: opts.bus })
  // Before any route: it sets the zod compilers and gathers every route that follows into the document.
  await registerOpenApi(app)
  if (fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
    // No wildcard: each file becomes its own route, marked by @fastify/static with `rootPath` (public).
    await app.register(fastifyStatic, { root: DASHBOARD_DIST, prefix: '/', wildcard: false })
  } else {
    // The dashboard, not the API: left out of the API document like the built dashboard's files.
    app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/plain').send('The dashboard is not built. Run: npm run build:dashboard\n'),
    )
  }
  return app
}
