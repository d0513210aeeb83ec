import { errorFromBody, networkError } from './errors.js'

export interface UploadProgress {
  sent: number
  total: number
}

export interface UploadRequest {
  url: string
  token: string | null
  body: Blob
  contentType: string
  onProgress: (p: UploadProgress) => void
  signal?: AbortSignal
}

/**
 * A raw body POSTed with progress. fetch() reports no upload progress, XMLHttpRequest does
 * (`upload.onprogress`), so this one request goes through it; the answer is read as JSON and a
 * refusal becomes the same ApiError as everywhere else.
 */
export function uploadWithProgress<T>(req: UploadRequest): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', req.url)
    xhr.setRequestHeader('accept', 'application/json')
    xhr.setRequestHeader('content-type', req.contentType)
    if (req.token) xhr.setRequestHeader('authorization', `Bearer ${req.token}`)
    xhr.responseType = 'text'
    xhr.upload.onprogress = (e) => req.onProgress({ sent: e.loaded, total: e.lengthComputable ? e.total : 0 })
    xhr.onerror = () => reject(networkError())
    xhr.onabort = () => reject(new DOMException('The upload was stopped', 'AbortError'))
    xhr.onload = () => {
      let body: unknown = null
      try {
        body = JSON.parse(xhr.responseText)
      } catch {
        // An answer without the envelope is worded by errorFromBody below.
      }
      if (xhr.status >= 200 && xhr.status < 300 && body !== null) resolve(body as T)
      else reject(errorFromBody(xhr.status, body))
    }
    req.signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    xhr.send(req.body)
  })
}
