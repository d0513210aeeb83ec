import type { PushSubscribe } from '@doorstep/proto'

/**
 * Subscribing this browser to the gateway's Web Push (RFC 8030, keys by RFC 8291, VAPID by RFC 8292).
 * Each way it can fail short of an error from the gateway is an outcome of its own, so the page can say
 * which: no Push API, not a secure context, notifications refused, or no push service behind the API
 * (a browser built without one, or a machine that cannot reach it).
 */
export type PushOutcome =
  | { kind: 'subscribed' }
  | { kind: 'unsupported' }
  | { kind: 'insecure' }
  | { kind: 'denied' }
  | { kind: 'no-service'; detail: string }

export interface PushDeps {
  /** The gateway's VAPID public key, base64url (GET /api/v1/notify/push/key). */
  key: () => Promise<string>
  /** Hands the subscription to the gateway (POST /api/v1/notify/push/subscriptions). */
  send: (sub: PushSubscribe) => Promise<unknown>
  /** The service worker that shows the pushes, beside the page (so it works behind a path prefix). */
  workerUrl: string
}

/** Whether this browser has the Push API at all; false also outside a secure context, where it is hidden. */
export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(base64url.length / 4) * 4, '=')
  const raw = atob(b64)
  const out = new Uint8Array(new ArrayBuffer(raw.length))
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i)
  return out
}

export async function subscribeThisBrowser(deps: PushDeps): Promise<PushOutcome> {
  if (!window.isSecureContext) return { kind: 'insecure' }
  if (!pushSupported()) return { kind: 'unsupported' }
  const permission = await Notification.requestPermission()
  if (permission !== 'granted') return { kind: 'denied' }
  const key = await deps.key()
  const reg = await navigator.serviceWorker.register(deps.workerUrl)
  await navigator.serviceWorker.ready
  let sub: PushSubscription
  try {
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) })
  } catch (err) {
    // The API is there but the browser's push service refused or is out of reach (AbortError and kin).
    return { kind: 'no-service', detail: err instanceof Error ? err.message : String(err) }
  }
  const json = sub.toJSON()
  const p256dh = json.keys?.p256dh
  const auth = json.keys?.auth
  if (!json.endpoint || !p256dh || !auth) return { kind: 'no-service', detail: 'no endpoint or keys' }
  await deps.send({ endpoint: json.endpoint, keys: { p256dh, auth } })
  return { kind: 'subscribed' }
}
