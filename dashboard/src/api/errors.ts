import { ErrorBody } from '@doorstep/proto'

/** Codes the dashboard makes itself, for failures that never reached the gateway's error envelope. */
export type ClientErrorCode = 'DASHBOARD_NETWORK' | 'DASHBOARD_BAD_RESPONSE'

/** An API failure, carrying the gateway's code and the message to show people. */
export class ApiError extends Error {
  readonly code: string
  /** HTTP status; 0 when the request never got an answer. */
  readonly status: number

  constructor(code: string, message: string, status: number) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = status
  }
}

/** Builds the error for a non-2xx answer from its body, which should be `{error:{code,message}}`. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const parsed = ErrorBody.safeParse(body)
  if (parsed.success) return new ApiError(parsed.data.error.code, parsed.data.error.message, status)
  // A proxy or a crashed process can answer without our envelope.
  return new ApiError('DASHBOARD_BAD_RESPONSE', `The gateway answered HTTP ${status}`, status)
}

export function networkError(): ApiError {
  return new ApiError('DASHBOARD_NETWORK', 'The gateway is not answering', 0)
}

/**
 * True when the gateway has no such route at all (its not-found handler
 * answers `No route GET /path`), as opposed to a missing record on a route
 * that exists. Features still being built (events, clips) show "not
 * available" instead of an error.
 */
export function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.message.startsWith('No route ')
}

export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message
  if (err instanceof Error) return err.message
  return String(err)
}
