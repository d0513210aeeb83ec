import { EvidenceKeys } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { EvidenceKeyring } from './keys.js'

/**
 * `GET /api/v1/evidence/keys`: public, like a CA's certificate: anyone who is
 * handed an export can fetch the key that should have signed it and compare
 * the fingerprint with one obtained out of band.
 */
export async function evidenceRoutes(app: FastifyInstance, opts: { keys: EvidenceKeyring }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  api.get(
    '/api/v1/evidence/keys',
    {
      config: { access: 'public' },
      schema: {
        summary: 'The evidence signing keys (Ed25519, public): the current one first, then retired ones',
        response: { 200: EvidenceKeys },
      },
    },
    async (): Promise<EvidenceKeys> => ({ keys: opts.keys.list() }),
  )
}
