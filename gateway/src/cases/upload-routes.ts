import { PullUploadRoutes } from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { DeviceRegistry } from '../registry/index.js'
import { resumableUploadRoutes } from '../uploads/index.js'
import type { PullUploads } from './pull-uploads.js'

/**
 * Where a unit uploads the recording a `pull` command asked for (its
 * `uploadPath`): the same protocol as event clips (see uploads/). With
 * `Doorstep-Clip-State: ready` a `HEAD` says the recording is stored. A
 * `Repr-Digest` the unit sends is checked. Only the unit the pull was sent to.
 */
export async function pullUploadRoutes(
  app: FastifyInstance,
  opts: { uploads: () => PullUploads; registry: Pick<DeviceRegistry, 'authenticate'>; maxBytes: number },
): Promise<void> {
  resumableUploadRoutes(app, {
    url: '/api/v1/pulls/:id/upload',
    param: 'id',
    uploads: opts.uploads,
    registry: opts.registry,
    maxBytes: opts.maxBytes,
    what: 'A recording',
    reprDigest: true,
    schema: PullUploadRoutes,
    errors: ['DOORSTEP_ERR_PULL_STATE', 'DOORSTEP_ERR_UPLOAD_BUSY'],
  })
}
