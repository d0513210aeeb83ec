import { ErrorBody } from '@doorstep/proto'
import { CATALOGUE, type MessageKey } from '../i18n/catalogue.js'
import { type MessageValues, messageSource, type Translator } from '../i18n/translator.js'

/** Codes the dashboard makes itself, for failures that never reached the gateway's error envelope. */
export type ClientErrorCode = 'DASHBOARD_NETWORK' | 'DASHBOARD_BAD_RESPONSE'

/**
 * Where the dashboard words a failure itself, the message key (and its values) to say it in the reader's
 * language; the gateway's own messages come in its body and are shown as sent.
 */
export interface OwnText {
  key: MessageKey
  values?: MessageValues
}

/** An API failure, carrying the gateway's code and the message to show people. */
export class ApiError extends Error {
  readonly code: string
  /** HTTP status; 0 when the request never got an answer. */
  readonly status: number
  /** Set when the message is the dashboard's own; `message` then holds the English, for logs. */
  readonly own: OwnText | undefined
  /** The envelope's `details` as sent: `{issues: [{path, message}]}` for a refused body, an import's rows. */
  readonly details: unknown

  constructor(code: string, message: string, status: number, own?: OwnText, details?: unknown) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = status
    this.own = own
    this.details = details
  }
}

/** The dashboard's own codes and how each is said. */
const OWN_KEYS: Record<ClientErrorCode, MessageKey> = {
  DASHBOARD_NETWORK: 'events.error.network',
  DASHBOARD_BAD_RESPONSE: 'events.error.badResponse',
}

/** Builds the error for a non-2xx answer from its body, which should be `{error:{code,message}}`. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const parsed = ErrorBody.safeParse(body)
  if (parsed.success)
    return new ApiError(
      parsed.data.error.code,
      parsed.data.error.message,
      status,
      undefined,
      parsed.data.error.details,
    )
  // A proxy or a crashed process can answer without our envelope.
  return new ApiError('DASHBOARD_BAD_RESPONSE', `The gateway answered HTTP ${status}`, status, {
    key: OWN_KEYS.DASHBOARD_BAD_RESPONSE,
    // A status code is not a quantity: no digit grouping.
    values: { status: String(status) },
  })
}

export function networkError(): ApiError {
  return new ApiError('DASHBOARD_NETWORK', 'The gateway is not answering', 0, {
    key: OWN_KEYS.DASHBOARD_NETWORK,
  })
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

/** The catalogue's key for a gateway error code, when the catalogue words that code. */
function codeKey(code: string): MessageKey | null {
  return Object.hasOwn(CATALOGUE.errors.en, code) ? (`errors.${code}` as MessageKey) : null
}

/**
 * The message to show for a failure: the dashboard's own messages in the reader's language, the
 * gateway's as it sent them.
 */
export function messageOf(err: unknown, t: Translator['t']): string {
  if (err instanceof ApiError) {
    if (err.own) return t(err.own.key, err.own.values)
    const key = codeKey(err.code)
    if (key === null) return err.message
    // English readers keep the gateway's own words, which often name the record; others get the code's.
    const said = t(key)
    return said === messageSource('en', key) ? err.message : said
  }
  if (err instanceof Error) return err.message
  return String(err)
}
