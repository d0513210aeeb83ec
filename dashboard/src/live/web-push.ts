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
  /** Hands the subscription to the gateway (POST /api/v1/notify/push/subscriptions); its id comes back. */
  send: (sub: PushSubscribe) => Promise<{ id: string }>
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
  const { id } = await deps.send({ endpoint: json.endpoint, keys: { p256dh, auth } })
  remember({ id, endpoint: json.endpoint })
  return { kind: 'subscribed' }
}

/**
 * The gateway's id for this browser's subscription, kept so "stop" can remove it there (its route takes
 * the id, and only the token that made it). Not a secret: the subscription's keys stay in the browser.
 */
interface Remembered {
  id: string
  endpoint: string
}

const STORAGE_KEY = 'doorstep.pushSubscription'

function remember(r: Remembered | null): void {
  try {
    if (r === null) localStorage.removeItem(STORAGE_KEY)
    else localStorage.setItem(STORAGE_KEY, JSON.stringify(r))
  } catch {
    // Private mode: the gateway keeps the subscription; this page forgets it.
  }
}

function remembered(): Remembered | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY)
    const r: unknown = raw === null ? null : JSON.parse(raw)
    if (typeof r !== 'object' || r === null || !('id' in r) || !('endpoint' in r)) return null
    return typeof r.id === 'string' && typeof r.endpoint === 'string'
      ? { id: r.id, endpoint: r.endpoint }
      : null
  } catch {
    return null
  }
}

async function currentSubscription(workerUrl: string): Promise<PushSubscription | null> {
  if (!window.isSecureContext || !pushSupported()) return null
  const reg = await navigator.serviceWorker.getRegistration(workerUrl)
  return (await reg?.pushManager.getSubscription()) ?? null
}

/** Whether this browser is subscribed, as far as both it and the gateway were told. */
export async function isSubscribed(workerUrl: string): Promise<boolean> {
  const r = remembered()
  if (r === null) return false
  const sub = await currentSubscription(workerUrl)
  return sub !== null && sub.endpoint === r.endpoint
}

/**
 * Stops this browser's notifications: the gateway forgets the subscription (`remove`, which may find it
 * gone already), then the browser drops it.
 */
export async function unsubscribeThisBrowser(deps: {
  remove: (id: string) => Promise<unknown>
  workerUrl: string
}): Promise<void> {
  const r = remembered()
  if (r !== null) await deps.remove(r.id)
  remember(null)
  await (await currentSubscription(deps.workerUrl))?.unsubscribe()
}
