import { ErrorBody } from '@doorstep/proto'
import fastifySwagger, { type SwaggerTransformObject } from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod'
import { z } from 'zod'
import { type Access, publicScope } from '../auth/index.js'
import { ERRORS, type ErrorCode } from '../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The error codes this route may answer with besides those its access and its schema
     * already imply (see `errorCodesOf`); they go into the API document.
     */
    errors?: readonly ErrorCode[]
  }
}

export const OPENAPI_PATH = '/api/v1/openapi.json'
export const DOCS_PATH = '/docs'
/** The extension naming who may call an operation: roles, `device` or `public`. */
export const ROLES_EXTENSION = 'x-doorstep-roles'
/** The extension listing every `DOORSTEP_ERR_*` code an operation may answer with. */
export const ERRORS_EXTENSION = 'x-doorstep-errors'

/** Security schemes of the document, by name. */
const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: "A person's token (`doorstep tokens issue`)." },
  tokenQuery: {
    type: 'apiKey',
    in: 'query',
    name: 'token',
    description:
      'The same token as `?token=`, only where a browser cannot send a header (media elements, WebSocket).',
  },
  deviceBasic: {
    type: 'http',
    scheme: 'basic',
    description: "A unit's id and secret (RFC 7617), the same credentials as on MQTT.",
  },
} as const

interface RouteFacts {
  access: Access | undefined
  schema: FastifySchema | undefined
  errors: readonly ErrorCode[] | undefined
}

/**
 * Every code a route may answer with: those its access implies (401/403 for
 * people, 401/503 for units, 429 for both), 400 when it validates anything, 413/415 when it
 * takes a body, `INTERNAL` everywhere, and the ones it declares in `config.errors`.
 */
export function errorCodesOf(r: RouteFacts): ErrorCode[] {
  const codes = new Set<ErrorCode>()
  if (Array.isArray(r.access)) {
    codes.add('DOORSTEP_ERR_UNAUTHENTICATED')
    codes.add('DOORSTEP_ERR_FORBIDDEN')
    codes.add('DOORSTEP_ERR_AUTH_THROTTLED')
  } else if (r.access === 'device') {
    codes.add('DOORSTEP_ERR_DEVICE_UNAUTHENTICATED')
    codes.add('DOORSTEP_ERR_AUTH_BUSY')
    codes.add('DOORSTEP_ERR_AUTH_THROTTLED')
  }
  const s = r.schema as Record<string, unknown> | undefined
  if (s?.params || s?.querystring || s?.body || s?.headers) codes.add('DOORSTEP_ERR_BAD_REQUEST')
  if (s?.body) {
    codes.add('DOORSTEP_ERR_PAYLOAD_TOO_LARGE')
    codes.add('DOORSTEP_ERR_UNSUPPORTED_MEDIA')
  }
  for (const c of r.errors ?? []) codes.add(c)
  codes.add('DOORSTEP_ERR_INTERNAL')
  return [...codes].sort((a, b) => ERRORS[a].status - ERRORS[b].status || a.localeCompare(b))
}

/** `['admin', 'ops']`, `['device']` or `['public']`: the value of `x-doorstep-roles`. */
export function rolesOf(access: Access | undefined): string[] {
  if (access === undefined) return []
  return typeof access === 'string' ? [access] : [...access]
}

function securityOf(access: Access | undefined, tokenInQuery: boolean): Array<Record<string, string[]>> {
  if (access === 'public' || access === undefined) return []
  if (access === 'device') return [{ deviceBasic: [] }]
  return tokenInQuery ? [{ bearer: [] }, { tokenQuery: [] }] : [{ bearer: [] }]
}

function whoLine(access: Access | undefined, tokenInQuery: boolean): string {
  if (access === 'public') return 'Public: no credentials.'
  if (access === 'device') return 'Units only: HTTP Basic with the unit id and secret.'
  const roles = rolesOf(access).join(', ')
  return `Roles: ${roles}${tokenInQuery ? ' (the token may also come as `?token=`)' : ''}.`
}

/** The API's area, for grouping in the reference: `/api/v1/cases/:id` → `cases`. */
function tagOf(url: string): string {
  const seg = url.replace(/^\/api\/v1\//, '').split('/')[0] ?? ''
  if (seg === 'my') return 'owners'
  if (seg === '' || url === DOCS_PATH || url === OPENAPI_PATH) return 'reference'
  return seg.replace(/[^a-z-]/g, '') || 'ops'
}

const WEBSOCKET_NOTE =
  'A WebSocket (`Upgrade: websocket`). The server sends `ServerFrame`s (first `ready`), the client may send ' +
  'a `ClientFrame` (`subscribe`) to resume after `lastId` and filter by district and kind.'

/**
 * Adds what the route options know and the schema does not: who may call
 * (`x-doorstep-roles`, the security requirement, a line in the description),
 * every error code with the error envelope, and a tag; then lets the type
 * provider turn the zod schemas into JSON Schema.
 */
function transformFor(twins: WeakSet<object>) {
  // Schemas proto names with `.meta({ id })` become the document's components and are referenced.
  const zodToJson = createJsonSchemaTransform({ skipList: [] })
  return (doc: Parameters<typeof zodToJson>[0]) => {
    const route = doc.route as RouteOptions & { websocket?: boolean }
    const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method)
    const { url } = doc
    // The HEAD Fastify adds beside each GET answers as the GET does; it is not an operation of its own.
    if (twins.has(doc.route)) return { schema: { hide: true }, url }
    const own = doc.schema as (FastifySchema & { hide?: boolean }) | undefined
    // The reference page is a plugin's route, hidden by it; it is part of the API all the same. Its
    // url reads `/docs/` here, the form Fastify also answers.
    if (method === 'GET' && (url === DOCS_PATH || url === `${DOCS_PATH}/`)) {
      const page = {
        summary: 'This reference, browsable (HTML)',
        response: {
          200: { description: 'the reference page', content: { 'text/html': { schema: z.string() } } },
        },
      }
      return decorate(page, 'public', false, undefined, DOCS_PATH)
    }
    // @fastify/websocket hides its routes from the document; ours is part of the API.
    if (own?.hide && route.websocket !== true) return { schema: own, url }
    const { hide: _hide, ...shown } = own ?? {}
    const schema = own ? shown : undefined
    const errors = route.config?.errors
    const websocket = route.websocket === true
    // A browser's WebSocket cannot send a header: the roles check reads `?token=` on upgrades.
    const tokenInQuery = route.config?.tokenInQuery === true || websocket
    return decorate(schema ?? {}, route.config?.access, tokenInQuery, errors, url, { websocket })

    function decorate(
      base: FastifySchema,
      access: Access | undefined,
      tokenInQuery: boolean,
      declared: readonly ErrorCode[] | undefined,
      u: string,
      o: { websocket?: boolean } = {},
    ) {
      const codes = errorCodesOf({ access, schema: base, errors: declared })
      const response: Record<string, unknown> = { ...((base as { response?: object }).response ?? {}) }
      if (o.websocket && response[101] === undefined) {
        response[101] = z.null().describe('Switching Protocols: the alert feed')
      }
      // An operation without a declared answer still has one (Fastify's serialiser sends what it gets).
      if (!Object.keys(response).some((s) => /^[123]/.test(s))) response[200] = z.unknown().describe('OK')
      const byStatus = new Map<number, ErrorCode[]>()
      for (const c of codes) byStatus.set(ERRORS[c].status, [...(byStatus.get(ERRORS[c].status) ?? []), c])
      for (const [status, list] of byStatus) {
        if (response[status] !== undefined) continue
        response[status] = {
          description: list.map((c) => `\`${c}\`: ${ERRORS[c].message}`).join('; '),
          content: { 'application/json': { schema: ErrorBody } },
        }
      }
      const b = base as FastifySchema & { description?: string; summary?: string; tags?: string[] }
      const description = [
        whoLine(access, tokenInQuery),
        o.websocket ? WEBSOCKET_NOTE : '',
        b.description ?? '',
      ]
        .filter(Boolean)
        .join('\n\n')
      const schema = {
        ...b,
        description,
        tags: b.tags ?? [tagOf(u)],
        security: securityOf(access, tokenInQuery),
        response,
        [ROLES_EXTENSION]: rolesOf(access),
        [ERRORS_EXTENSION]: codes,
      }
      return zodToJson({ ...doc, schema, url: u })
    }
  }
}

/**
 * The type provider names each shared schema twice, as read (`XInput`) and as
 * sent (`X`); most are only ever sent. Drops the `XInput` nothing refers to.
 */
function withoutUnusedInputs(inner: SwaggerTransformObject): SwaggerTransformObject {
  return (doc) => {
    const out = inner(doc)
    const schemas = (out as { components?: { schemas?: Record<string, unknown> } }).components?.schemas
    if (!schemas) return out
    // Until nothing changes: dropping one may leave another it referred to unused.
    for (let dropped = true; dropped; ) {
      dropped = false
      for (const name of Object.keys(schemas)) {
        if (!name.endsWith('Input')) continue
        const { [name]: _self, ...rest } = schemas
        const text = JSON.stringify({ ...out, components: { schemas: rest } })
        if (text.includes(`"#/components/schemas/${name}"`)) continue
        delete schemas[name]
        dropped = true
      }
    }
    return out
  }
}

/**
 * Route schemas are zod schemas from proto: the type provider validates
 * params, query, headers and body with them before the handler runs, and
 * encodes responses with them. Then `@fastify/swagger` gathers every route
 * registered after this into an OpenAPI 3.1 document, served at
 * `/api/v1/openapi.json` and browsable at `/docs`.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  // The HEAD routes Fastify adds beside GETs, so the document can leave them out. Fastify adds the
  // twin right after its GET, before any other route: a HEAD that follows such a GET is its twin.
  const twins = new WeakSet<object>()
  let lastGet: { url: string; twin: boolean } | null = null
  app.addHook('onRoute', (route) => {
    if (route.method === 'HEAD' && lastGet?.twin && lastGet.url === route.url) twins.add(route)
    lastGet = route.method === 'GET' ? { url: route.url, twin: route.exposeHeadRoute !== false } : null
  })
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Doorstep gateway API',
        // The API's version, as in its paths; the document changes with the routes, not the release.
        version: 'v1',
        description:
          'Every error has the body `ErrorBody` with a `DOORSTEP_ERR_*` code; each operation lists its codes ' +
          `in \`${ERRORS_EXTENSION}\` and who may call it in \`${ROLES_EXTENSION}\`.`,
      },
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    // Explicit HEAD routes (upload offsets) are operations; the twins are dropped in the transform.
    exposeHeadRoutes: true,
    transform: transformFor(twins),
    transformObject: withoutUnusedInputs(createJsonSchemaTransformObject({})),
  })
  await app.register(async (docs) => {
    publicScope(docs)
    docs.get(
      OPENAPI_PATH,
      {
        config: { access: 'public' },
        schema: {
          summary: 'This API as an OpenAPI 3.1 document',
          response: { 200: z.looseObject({ openapi: z.string() }) },
        },
      },
      async () => app.swagger(),
    )
    await docs.register(fastifySwaggerUi, { routePrefix: DOCS_PATH })
  })
}
