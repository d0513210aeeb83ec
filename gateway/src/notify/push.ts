import fs from 'node:fs'
import path from 'node:path'
import type { NotificationPayload } from '@doorstep/proto'
import webpush from 'web-push'
import type { PushSubscriptionRow } from './notify-store.js'

/** The VAPID key pair, under the data dir: a browser's subscription is bound to its public key. */
export const VAPID_FILE = path.join('notify', 'vapid.json')

interface VapidKeys {
  publicKey: string
  privateKey: string
}

/**
 * Reads the gateway's VAPID keys, or makes and keeps them on first start (mode 0600: the private key
 * signs every push; whoever holds it can push to every subscribed browser).
 */
export function loadVapidKeys(dataDir: string): VapidKeys {
  const file = path.join(dataDir, VAPID_FILE)
  if (fs.existsSync(file)) {
    const k = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<VapidKeys>
    if (typeof k.publicKey === 'string' && typeof k.privateKey === 'string') {
      return { publicKey: k.publicKey, privateKey: k.privateKey }
    }
    throw new Error(`${VAPID_FILE} under the data dir is not a VAPID key pair`)
  }
  const keys = webpush.generateVAPIDKeys()
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const fd = fs.openSync(file, 'wx', 0o600)
  try {
    fs.writeSync(fd, `${JSON.stringify(keys)}\n`)
  } finally {
    fs.closeSync(fd)
  }
  return keys
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/**
 * Push services are https. Plain http is taken only on loopback, where a local push service (or the
 * tests' stand-in) runs: anything else would send the VAPID token in the clear.
 */
export function acceptableEndpoint(endpoint: string): boolean {
  const u = new URL(endpoint)
  if (u.protocol === 'https:') return true
  return u.protocol === 'http:' && LOOPBACK.has(u.hostname)
}

/** What one push to one subscription came to; `gone`: the push service forgot it (404/410), drop it. */
export type PushOutcome = 'sent' | 'gone' | { failed: string }

/**
 * Encrypts (RFC 8291, aes128gcm) and signs (RFC 8292, VAPID) one push with web-push, and sends it
 * with fetch: web-push's own sender speaks https only, and a local push service may be plain http.
 */
export async function pushTo(
  sub: PushSubscriptionRow,
  payload: NotificationPayload,
  opts: { keys: VapidKeys; subject: string; signal: AbortSignal },
): Promise<PushOutcome> {
  const details = webpush.generateRequestDetails(
    { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } },
    JSON.stringify(payload),
    {
      vapidDetails: {
        subject: opts.subject,
        publicKey: opts.keys.publicKey,
        privateKey: opts.keys.privateKey,
      },
      contentEncoding: 'aes128gcm',
      TTL: 24 * 3600,
      urgency: payload.severity === 'critical' ? 'high' : 'normal',
    },
  )
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(details.headers)) headers[k] = String(v)
  const res = await fetch(details.endpoint, {
    method: details.method,
    headers,
    body: details.body === null ? null : new Uint8Array(details.body),
    redirect: 'manual',
    signal: opts.signal,
  })
  await res.body?.cancel()
  if (res.status === 404 || res.status === 410) return 'gone'
  if (res.status < 200 || res.status > 299) return { failed: `the push service answered ${res.status}` }
  return 'sent'
}
