import type { FastifyReply, FastifyRequest } from 'fastify'
import { DoorstepError } from '../errors.js'

/**
 * Upload routes hand the body over as a stream, so Fastify's bodyLimit does
 * not stop an oversized one: the announced Content-Length is checked here,
 * before a byte is read, and the connection closed so the rest is not read.
 * Returns the announced length, if any.
 */
export function refuseOversize(
  req: FastifyRequest,
  reply: FastifyReply,
  maxBytes: number,
  what: string,
): number | undefined {
  const length = req.headers['content-length']
  const contentLength = length === undefined ? undefined : Number(length)
  if (contentLength !== undefined && contentLength > maxBytes) {
    reply.header('connection', 'close')
    throw new DoorstepError('DOORSTEP_ERR_PAYLOAD_TOO_LARGE', `${what} may be at most ${maxBytes} bytes`)
  }
  return contentLength
}
