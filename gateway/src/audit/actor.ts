import type { FastifyRequest } from 'fastify'

/**
 * Who made a request, as it goes on record in the audit and custody logs: a
 * person by their token's name, role and id (never the token), a unit by its
 * id. Bootstrap admin is token 0.
 */
export function actorOf(req: FastifyRequest): string {
  const p = req.principal
  if (p) return `${p.name} (${p.role} #${p.tokenId})`
  const d = (req as { device?: { id: string } | null }).device
  if (d) return `device:${d.id}`
  return 'anonymous'
}
