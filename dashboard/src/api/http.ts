import { ApiError, errorFromBody, networkError } from './errors.js'

export type Query = Record<string, string | number | boolean | undefined | null>

export interface HttpClientOptions {
  /** The current bearer token; read on every request so sign-out takes effect at once. */
  token: () => string | null
  /** Told when the gateway refuses the token, so the session can end. */
  onUnauthenticated?: (err: ApiError) => void
  /** Resolves `api/v1/...` against the page; the gateway serves the dashboard, so same origin. */
  baseUrl?: string
}

/** Builds a same-origin URL for an API path, dropping empty query values. */
export function apiUrl(path: string, query: Query = {}, baseUrl: string = document.baseURI): string {
  const url = new URL(path.replace(/^\//, ''), baseUrl)
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue
    url.searchParams.set(k, String(v))
  }
  return url.toString()
}

/** A body that is not JSON, sent as it is. */
class Raw {
  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {}
}

/** JSON over fetch with the bearer header and the gateway's error envelope turned into ApiError. */
export class HttpClient {
  readonly #opts: HttpClientOptions

  constructor(opts: HttpClientOptions) {
    this.#opts = opts
  }

  url(path: string, query?: Query): string {
    return apiUrl(path, query, this.#opts.baseUrl)
  }

  /**
   * Why a URL fails, for media elements that only say "error": the same URL
   * fetched with the bearer header. Resolves to the gateway's error, or null
   * when it answers 2xx.
   */
  async errorOf(path: string, headers: Record<string, string> = {}): Promise<ApiError | null> {
    const token = this.#opts.token()
    let res: Response
    try {
      res = await fetch(this.url(path), {
        headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        cache: 'no-store',
      })
    } catch {
      return networkError()
    }
    if (res.ok) {
      await res.body?.cancel()
      return null
    }
    return errorFromBody(res.status, await res.json().catch(() => null))
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal, tokenOverride?: string): Promise<T> {
    return this.#send<T>('GET', path, query, undefined, signal, tokenOverride)
  }

  /** A JSON body to a route that changes something; the answer comes back parsed. */
  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.#send<T>('POST', path, undefined, body, signal, undefined)
  }

  /** A route that removes or revokes something; the answer comes back parsed. */
  delete<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#send<T>('DELETE', path, undefined, undefined, signal, undefined)
  }

  /** A JSON body that sets a record (or the fields it names) at the path; the answer comes back parsed. */
  put<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.#send<T>('PUT', path, undefined, body, signal, undefined)
  }

  /** A JSON body that changes part of a record; the answer comes back parsed. */
  patch<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.#send<T>('PATCH', path, undefined, body, signal, undefined)
  }

  /** A body sent as it is (a CSV file, say) with its own content type; the answer comes back parsed. */
  postText<T>(path: string, text: string, contentType: string, signal?: AbortSignal): Promise<T> {
    return this.#send<T>('POST', path, undefined, new Raw(text, contentType), signal, undefined)
  }

  async #send<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH',
    path: string,
    query: Query | undefined,
    payload: unknown,
    signal: AbortSignal | undefined,
    tokenOverride: string | undefined,
  ): Promise<T> {
    const token = tokenOverride ?? this.#opts.token()
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token) headers.authorization = `Bearer ${token}`
    if (payload instanceof Raw) headers['content-type'] = payload.contentType
    else if (payload !== undefined) headers['content-type'] = 'application/json'
    const sent = payload instanceof Raw ? payload.text : JSON.stringify(payload)
    let res: Response
    try {
      res = await fetch(this.url(path, query), {
        method,
        headers,
        signal: signal ?? null,
        cache: 'no-store',
        ...(payload === undefined ? {} : { body: sent }),
      })
    } catch (err) {
      if (signal?.aborted) throw err
      throw networkError()
    }
    let body: unknown = null
    try {
      body = await res.json()
    } catch {
      if (res.ok)
        throw new ApiError('DASHBOARD_BAD_RESPONSE', 'The gateway sent an unreadable answer', res.status)
    }
    if (!res.ok) {
      const err = errorFromBody(res.status, body)
      // Only a token check that fails ends the session; a 403 is a role limit on one route.
      if (res.status === 401 && tokenOverride === undefined) this.#opts.onUnauthenticated?.(err)
      throw err
    }
    return body as T
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError'
}
