import { z } from 'zod'
import { PullParams, PullUploadResult } from './cases.js'
import { ClipParams, ClipUploadResult } from './events.js'
import { NoBody } from './http.js'

/**
 * The resumable upload routes a unit calls with HTTP Basic: an event's clip
 * (`/api/v1/clips/:eventId`) and a pulled recording (`/api/v1/pulls/:id/upload`).
 * `HEAD` says where to continue; `PUT` sends the next bytes. These are the
 * routes' schemas in Fastify's shape (`params`, `headers`, `response`), ready to
 * be put on the routes as `schema`; the API document shows them from here.
 */

/**
 * Request headers of an upload `PUT`. Header schemas keep the headers they do not
 * name (`loose`): the validated object replaces `req.headers`, and the unit's
 * `Authorization` must survive it.
 */
export const UploadPutHeaders = z
  .object({
    /**
     * [RFC 9110 §14.4] `bytes N-M/TOTAL` for the next bytes (N must not be past the bytes held), or
     * `bytes *\/TOTAL` to finish an upload whose bytes are all in. Absent: the whole file in one go.
     */
    'content-range': z
      .string()
      .optional()
      .describe('`bytes N-M/TOTAL` (continue at N), or `bytes */TOTAL` (finish); absent: the whole file'),
    'content-type': z.enum(['application/octet-stream', 'video/mp4']).optional(),
  })
  .loose()

/** [RFC 9530] `Repr-Digest: sha-256=:BASE64:`: the whole recording's digest, checked when sent. */
export const PullUploadPutHeaders = UploadPutHeaders.extend({
  'repr-digest': z
    .string()
    .optional()
    .describe('`sha-256=:BASE64:` of the whole recording; checked once every byte is in'),
}).loose()

const UPLOAD_HEAD_HEADERS =
  'Answers with `Upload-Offset` (bytes held: continue from there), `Upload-Length` (the total, once known) ' +
  'and `Doorstep-Clip-State` (`pending`, `uploading` or `ready`).'
const UPLOAD_PUT_STATUSES =
  '`200`: already stored; `201`: stored and verified now; `202`: bytes kept, more expected. Every answer, ' +
  'and a `409 DOORSTEP_ERR_UPLOAD_OFFSET`, carries `Upload-Offset` and `Upload-Length`.'

/** Response headers of every upload answer, as the document shows them (JSON Schema per header). */
const OFFSET_HEADERS = {
  'upload-offset': { type: 'integer', description: 'bytes the gateway holds: a resumed PUT starts here' },
  'upload-length': { type: 'integer', description: 'the whole size, once the unit has named it' },
}
const HEAD_HEADERS = {
  ...OFFSET_HEADERS,
  'doorstep-clip-state': { type: 'string', enum: ['pending', 'uploading', 'ready'] },
}
const headAnswer = NoBody.meta({ description: 'the upload state, in the headers', headers: HEAD_HEADERS })
const putAnswer = <T extends z.ZodType>(result: T, description: string) =>
  result.meta({ description, headers: OFFSET_HEADERS })

export const ClipUploadRoutes = {
  head: {
    summary: "Bytes of an event's clip received so far",
    description: UPLOAD_HEAD_HEADERS,
    params: ClipParams,
    response: { 200: headAnswer },
  },
  put: {
    summary: "Upload or resume an event's clip",
    description: `Checked against the sha256 the event announced, then probed with ffprobe. ${UPLOAD_PUT_STATUSES}`,
    params: ClipParams,
    headers: UploadPutHeaders,
    response: {
      200: putAnswer(ClipUploadResult, 'already stored'),
      201: putAnswer(ClipUploadResult, 'stored and verified now'),
      202: putAnswer(ClipUploadResult, 'bytes kept; more expected'),
    },
  },
} as const

export const PullUploadRoutes = {
  head: {
    summary: 'Bytes of a pulled recording received so far',
    description: UPLOAD_HEAD_HEADERS,
    params: PullParams,
    response: { 200: headAnswer },
  },
  put: {
    summary: 'Upload or resume the recording a pull asked for',
    description: `Only the unit the pull was sent to, after consent. ${UPLOAD_PUT_STATUSES}`,
    params: PullParams,
    headers: PullUploadPutHeaders,
    response: {
      200: putAnswer(PullUploadResult, 'already stored'),
      201: putAnswer(PullUploadResult, 'stored and verified now'),
      202: putAnswer(PullUploadResult, 'bytes kept; more expected'),
    },
  },
} as const
