import type { Role } from '@doorstep/proto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import { DeviceRequests } from './device-auth.js'
import type { AuthThrottle } from './throttle.js'
import type { Principal, TokenStore } from './tokens.js'

/**
 * Who may call a route. Every route must declare it in `config.access`:
 * a list of roles, `'device'` for units authenticating with their secret,
 * or `'public'`. A route that declares nothing is refused to everyone, so a
 * forgotten declaration fails closed.
 */
export type Access = readonly Role[] | 'public' | 'device'

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
    /**
     * A GET route may also take the bearer token as `?token=`, for what a browser fetches by
     * itself (`<video src>`, `<img src>`) and cannot add a header to.
     */
    tokenInQuery?: boolean
  }
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    /** Failed authentications per address; `deviceAuth` counts the units' failures here too. */
    authThrottle: AuthThrottle
    /** Units' requests in flight, cut when the unit is revoked (see `deviceAuth`). */
    deviceRequests: DeviceRequests
  }
}

export const ROLES = {
  all: ['admin', 'ops', 'investigator', 'owner'],
  staff: ['admin', 'ops', 'investigator'],
  fleet: ['admin', 'ops'],
  admin: ['admin'],
  /** Evidence custody: placing and releasing holds on clips. */
  custody: ['admin', 'investigator'],
  /** Homeowners: their own units (matched by the token's ownerContact) and consent decisions. */
  owner: ['owner'],
} as const satisfies Record<string, readonly Role[]>

/**
 * Reads a bearer token from the Authorization header or `?token=`: the query is read only for
 * WebSocket upgrades and for GET/HEAD routes that opt in with `config.tokenInQuery`.
 */
function bearerToken(req: FastifyRequest): string | null {
  const h = req.headers.authorization
  if (h?.startsWith('Bearer ')) return h.slice(7).trim()
  const q = req.query as Record<string, unknown> | undefined
  if (typeof q?.token !== 'string') return null
  if (req.headers.upgrade) return q.token
  const optedIn = req.routeOptions.config?.tokenInQuery === true
  if (optedIn && (req.method === 'GET' || req.method === 'HEAD')) return q.token
  return null
}

/** The dashboard's static files (routes made by @fastify/static, marked by `rootPath`) are public. */
function accessOf(config: unknown): Access | undefined {
  const c = config as { access?: Access; rootPath?: string } | undefined
  return c?.access ?? (c?.rootPath !== undefined ? 'public' : undefined)
}

const PUBLIC_SCOPE = Symbol('doorstep.publicScope')

/**
 * Makes every route registered in this encapsulated scope, and in the plugins it
 * registers, public: for a plugin whose routes we do not write (the API
 * reference pages), which cannot declare `config.access` itself. The scope is
 * the declaration, so nothing outside it is opened by accident.
 */
export function publicScope(app: FastifyInstance): void {
  app.decorate(PUBLIC_SCOPE, true)
}

/**
 * Refuses every credentialed route to an address past its failure limit, with the
 * seconds to wait [RFC 6585 §4, RFC 9110 §10.2.3].
 */
function refuseThrottled(throttle: AuthThrottle, req: FastifyRequest, reply: FastifyReply): void {
  const wait = throttle.retryAfterS(req.ip)
  if (wait === 0) return
  reply.header('retry-after', String(wait))
  throw new DoorstepError('DOORSTEP_ERR_AUTH_THROTTLED', undefined, { retryAfterS: wait })
}

export const rolesPlugin = fp(
  async (
    app: FastifyInstance,
    opts: { tokens: TokenStore; throttle: AuthThrottle; bus?: Pick<EventBus, 'on'> | undefined },
  ) => {
    const { throttle } = opts
    app.decorate('authThrottle', throttle)
    const deviceRequests = new DeviceRequests()
    app.decorate('deviceRequests', deviceRequests)
    // A disabled or re-keyed unit's uploads in flight end now, not when they finish.
    const offRevoked = opts.bus?.on('device.revoked', (e) => {
      const cut = deviceRequests.cut(e.deviceId)
      if (cut > 0) app.log.info({ device: e.deviceId, requests: cut }, 'credentials revoked; requests cut')
    })
    app.addHook('onClose', async () => offRevoked?.())
    app.decorateRequest('principal', null)
    // Fail at boot, not at request time, when a route forgets to say who may call it.
    app.addHook('onRoute', function (route) {
      if (accessOf(route.config) === undefined && this.hasDecorator(PUBLIC_SCOPE)) {
        route.config = { ...route.config, access: 'public' }
      }
      if (accessOf(route.config) === undefined) {
        throw new Error(`route ${String(route.method)} ${route.url} declares no config.access`)
      }
    })
    app.addHook('onRequest', async (req, reply) => {
      // Unknown URLs have no route options; let the 404 handler answer.
      if (req.routeOptions.url === undefined) return
      const access = accessOf(req.routeOptions.config)
      if (access === undefined)
        throw new DoorstepError('DOORSTEP_ERR_FORBIDDEN', 'This route declares no access')
      if (access === 'public') return
      refuseThrottled(throttle, req, reply)
      if (access === 'device') return
      const token = bearerToken(req)
      // No token is no guess: only presented-and-refused credentials count against the address.
      if (!token) throw new DoorstepError('DOORSTEP_ERR_UNAUTHENTICATED')
      const principal = await opts.tokens.resolve(token)
      if (!principal) {
        throttle.fail(req.ip)
        throw new DoorstepError('DOORSTEP_ERR_UNAUTHENTICATED', 'The token is unknown or revoked')
      }
      if (!access.includes(principal.role)) throw new DoorstepError('DOORSTEP_ERR_FORBIDDEN')
      req.principal = principal
    })
  },
  { name: 'doorstep-roles' },
)
