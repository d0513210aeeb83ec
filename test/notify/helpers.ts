import { createHmac, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ChannelCreate, ChannelCreated, NotificationView, RuleCreate, RuleView } from '@doorstep/proto'
import { api } from '../helpers/http.js'

export { capturingLogger } from '../helpers/log.js'

export interface Received {
  headers: http.IncomingHttpHeaders
  body: Buffer
  status: number
}

/**
 * A small HTTP server on loopback standing for a webhook receiver or a push service: it keeps every
 * request and answers each with the next status of `statuses` (the last one repeats).
 */
export async function startReceiver(statuses: number[] = [200]): Promise<{
  url: string
  received: Received[]
  setStatuses(s: number[]): void
  close(): Promise<void>
}> {
  let queue = [...statuses]
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const status = queue.length > 1 ? (queue.shift() as number) : (queue[0] ?? 200)
      received.push({ headers: req.headers, body: Buffer.concat(chunks), status })
      res.statusCode = status
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    setStatuses: (s) => {
      queue = [...s]
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * What a receiver does with a webhook: recompute the HMAC over the timestamp and the raw bytes it got,
 * compare in constant time, and refuse a timestamp more than five minutes off (a replay).
 */
export function verifyWebhook(secret: string, r: Received, nowMs = Date.now()): boolean {
  const ts = Number(r.headers['x-doorstep-timestamp'])
  const sig = String(r.headers['x-doorstep-signature'] ?? '')
  if (!Number.isInteger(ts) || Math.abs(nowMs / 1000 - ts) > 300) return false
  const want = `sha256=${createHmac('sha256', secret).update(`${ts}.`).update(r.body).digest('hex')}`
  return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want))
}

/** The admin's calls on the notify routes. */
export function notifyApi(base: string, token: string) {
  return {
    channel: async (body: ChannelCreate) => {
      const r = await api<ChannelCreated>(base, 'POST', '/api/v1/notify/channels', token, body)
      if (r.status !== 201) throw new Error(`channel: ${r.status} ${JSON.stringify(r.body)}`)
      return r.body
    },
    rule: async (body: RuleCreate) => {
      const r = await api<RuleView>(base, 'POST', '/api/v1/notify/rules', token, body)
      if (r.status !== 201) throw new Error(`rule: ${r.status} ${JSON.stringify(r.body)}`)
      return r.body
    },
    notifications: async (ruleId: string) =>
      (
        await api<{ notifications: NotificationView[] }>(
          base,
          'GET',
          `/api/v1/notify/rules/${ruleId}/notifications`,
          token,
        )
      ).body.notifications,
    deadLetters: async () =>
      (await api<{ notifications: NotificationView[] }>(base, 'GET', '/api/v1/notify/dead-letters', token))
        .body.notifications,
  }
}
