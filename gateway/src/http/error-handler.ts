import type { ErrorBody } from '@doorstep/proto'
import type { FastifyError, FastifyInstance } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { ZodError } from 'zod'
import { isDatabaseUnreachable } from '../db/index.js'
import { DoorstepError } from '../errors.js'

interface Issue {
  path: string
  message: string
}

/** One envelope for every validation failure, whether a route's schema or a handler found it. */
function badRequest(issues: Issue[]): DoorstepError {
  return new DoorstepError(
    'DOORSTEP_ERR_BAD_REQUEST',
    issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; '),
    { issues },
  )
}

/** Turns any thrown error into the one error envelope, never a stack trace. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | DoorstepError | ZodError, req, reply) => {
    let e: DoorstepError
    if (err instanceof DoorstepError) e = err
    else if (err instanceof ZodError) {
      e = badRequest(err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })))
    } else if (hasZodFastifySchemaValidationErrors(err)) {
      // The route's schema refused params, query, headers or body: the type provider reports each
      // zod issue with its path as a JSON pointer (`/a/0/b`), which reads as `a.0.b` like the rest.
      e = badRequest(
        err.validation.map((v) => ({
          path: v.instancePath.split('/').filter(Boolean).join('.'),
          message: v.message ?? 'is not valid',
        })),
      )
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new DoorstepError('DOORSTEP_ERR_PAYLOAD_TOO_LARGE')
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      e = new DoorstepError('DOORSTEP_ERR_UNSUPPORTED_MEDIA')
    else if (isDatabaseUnreachable(err)) {
      // The shared PostgreSQL is away: say so, as a 503 the caller may retry, not an internal error.
      e = new DoorstepError(
        'DOORSTEP_ERR_DATABASE_UNAVAILABLE',
        'PostgreSQL (DOORSTEP_DATABASE_URL) is not answering; retry shortly',
      )
    } else if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      e = new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', err.message)
    } else {
      req.log.error({ err }, 'unhandled error')
      e = new DoorstepError('DOORSTEP_ERR_INTERNAL')
    }
    if (e.status >= 500 && e.code !== 'DOORSTEP_ERR_INTERNAL') req.log.warn({ code: e.code }, e.message)
    const body: ErrorBody = { error: { code: e.code, message: e.message } }
    if (e.details !== undefined) body.error.details = e.details
    return reply.status(e.status).send(body)
  })
  app.setNotFoundHandler((req, reply) => {
    const body: ErrorBody = {
      error: { code: 'DOORSTEP_ERR_NOT_FOUND', message: `No route ${req.method} ${req.url.split('?')[0]}` },
    }
    return reply.status(404).send(body)
  })
}
