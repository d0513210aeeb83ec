import { DeviceId } from '@doorstep/proto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/index.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The unit a `'device'` route authenticated with HTTP Basic (see `deviceAuth`). */
    device: DeviceRecord | null
  }
}

const REALM = 'Basic realm="doorstep-device", charset="UTF-8"'

/**
 * Units' requests in flight, by unit. An upload can run for minutes: when a unit is disabled or
 * its secret rotated, its requests already past authentication are cut, as a lost link would cut
 * them (the upload stays resumable), and their retries meet the registry's refusal.
 */
export class DeviceRequests {
  readonly #byDevice = new Map<string, Set<FastifyRequest>>()

  /** Tracks the request until its response is done or its connection gone. */
  add(deviceId: string, req: FastifyRequest, reply: FastifyReply): void {
    let set = this.#byDevice.get(deviceId)
    if (!set) {
      set = new Set()
      this.#byDevice.set(deviceId, set)
    }
    set.add(req)
    reply.raw.once('close', () => {
      set.delete(req)
      if (set.size === 0 && this.#byDevice.get(deviceId) === set) this.#byDevice.delete(deviceId)
    })
  }

  /** Ends the connections of the unit's requests in flight; how many there were. */
  cut(deviceId: string): number {
    const set = this.#byDevice.get(deviceId)
    if (!set) return 0
    this.#byDevice.delete(deviceId)
    for (const req of set) req.raw.socket.destroy()
    return set.size
  }

  inFlight(deviceId: string): number {
    return this.#byDevice.get(deviceId)?.size ?? 0
  }
}

/** Adds `req.device` to the requests of an encapsulated plugin that uses `deviceAuth`. */
export function decorateDevice(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('device')) app.decorateRequest('device', null)
}

/** `Authorization: Basic base64(id:secret)` (RFC 7617); null when absent or malformed. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null {
  if (!header || !/^basic /i.test(header)) return null
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  const id = decoded.slice(0, colon)
  const secret = decoded.slice(colon + 1)
  if (!DeviceId.safeParse(id).success || secret.length === 0 || secret.length > 256) return null
  return { id, secret }
}

/**
 * A hook for `config.access: 'device'` routes, which the roles plugin lets
 * through: it authenticates the unit with its id and secret (the same
 * credentials as MQTT) and sets `req.device`. Use it as the route's
 * `onRequest` so nothing of the body is read before the unit is known (it also
 * works as a `preHandler`). The secret is never logged: the logger redacts the
 * Authorization header, and nothing here puts it anywhere else.
 */
export function deviceAuth(registry: Pick<DeviceRegistry, 'authenticate'>) {
  return async function deviceAuthHook(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const creds = basicCredentials(req.headers.authorization)
    const device = creds ? await registry.authenticate(creds.id, creds.secret) : null
    if (device === 'busy') {
      reply.header('retry-after', '1')
      throw new DoorstepError('DOORSTEP_ERR_AUTH_BUSY')
    }
    if (!device) {
      // Only a presented-and-refused secret is a guess; the roles plugin refuses the address past its limit.
      if (creds) req.server.authThrottle.fail(req.ip)
      // [RFC 9110 §11.6.1] a 401 carries the challenge the client should answer.
      reply.header('www-authenticate', REALM)
      reply.header('connection', 'close')
      throw new DoorstepError(
        'DOORSTEP_ERR_DEVICE_UNAUTHENTICATED',
        creds ? 'Unknown device, wrong secret or disabled unit' : undefined,
      )
    }
    req.device = device
    req.server.deviceRequests.add(device.id, req, reply)
  }
}
