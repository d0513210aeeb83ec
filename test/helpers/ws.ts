import type { ServerFrame } from '@doorstep/proto'
import WebSocket from 'ws'
import { bearer } from './http.js'

/** A dashboard-like alert socket that collects every frame it gets. */
export async function openAlerts(
  httpUrl: string,
  token: string,
  /** For an https:// URL: the CA to trust (PEM). */
  tls: { ca?: Buffer } = {},
): Promise<{ frames: ServerFrame[]; ws: WebSocket; close(): void }> {
  const ws = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/api/v1/alerts`, {
    headers: bearer(token),
    ...tls,
  })
  const frames: ServerFrame[] = []
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as ServerFrame))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
  })
  return { frames, ws, close: () => ws.close() }
}
