import { createHmac, randomBytes } from 'node:crypto'
import type { NotificationPayload } from '@doorstep/proto'

export const SIGNATURE_HEADER = 'x-doorstep-signature'
export const TIMESTAMP_HEADER = 'x-doorstep-timestamp'
export const DELIVERY_HEADER = 'x-doorstep-delivery'

/** A webhook's signing secret: 256 random bits, shown to the admin once. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`
}

/**
 * `sha256=<hex>`: HMAC-SHA256 with the channel's secret over `<timestamp>.<raw body>`. The timestamp
 * is inside the signed bytes, so a receiver that refuses old timestamps refuses replays too.
 */
export function signWebhook(secret: string, timestampS: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampS}.${rawBody}`).digest('hex')}`
}

/**
 * One try: POST the JSON body, signed afresh (a retry carries a new timestamp). Any answer but 2xx is
 * a failure to retry; redirects are not followed, since a receiver that moved must be re-configured.
 */
export async function postWebhook(
  target: { url: string; secret: string },
  payload: NotificationPayload,
  opts: { signal: AbortSignal; now: () => number },
): Promise<void> {
  const body = JSON.stringify(payload)
  const ts = Math.floor(opts.now() / 1000)
  const res = await fetch(target.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Doorstep-Notify/1',
      [TIMESTAMP_HEADER]: String(ts),
      [SIGNATURE_HEADER]: signWebhook(target.secret, ts, body),
      [DELIVERY_HEADER]: payload.id,
    },
    body,
    redirect: 'manual',
    signal: opts.signal,
  })
  await res.body?.cancel()
  if (res.status < 200 || res.status > 299) throw new Error(`the webhook answered ${res.status}`)
}
