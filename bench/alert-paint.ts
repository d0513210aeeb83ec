/**
 * bench:alert-paint — from a unit's publish of an event to its alert painted
 * in the dashboard, in real headless Chromium (Debian chromium through
 * playwright-core). A MutationObserver in the page notes when each alert's
 * row appears; units publish one event each, spaced, from this process, and
 * both clocks are this machine's.
 *
 *   npm run bench:alert-paint [-- --events 300 --every-ms 50]
 *
 * Writes bench/results/alert-paint-<time>.json and a row in bench/README.md.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { z } from 'zod'
import { ManagedInfluxd } from '../gateway/src/influx/managed-influxd.js'
import { createLogger } from '../gateway/src/log.js'
import { launchChromium } from '../scripts/chromium.js'
import { benchArgs } from './lib/args.js'
import { ROOT } from './lib/children.js'
import { startGatewayProcess } from './lib/gateway-process.js'
import { percentile } from './lib/proc.js'
import { saveResults } from './lib/results.js'
import { connectUnit } from './lib/units.js'

const Args = z.object({
  events: z.coerce.number().int().min(10).max(2000).default(300),
  'every-ms': z.coerce.number().int().min(5).max(1000).default(50),
})
const args = benchArgs('alert-paint', Args)

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-paint-'))
const influxd = new ManagedInfluxd({ dataDir: path.join(tmp, 'influxd'), log: createLogger('warn') })
try {
  const influxUrl = await influxd.start()
  const gw = await startGatewayProcess({ name: 'paint', dataRoot: tmp, influxUrl })
  // One unit per event: alerts of one unit and kind are folded, and this measures single alerts.
  const rows = Array.from({ length: args.events }, (_, i) => ({
    id: `cam-p${String(i).padStart(5, '0')}`,
    serial: `PAINT-${i}`,
    district: (i % 61) + 1,
    address: `${(i % 12) + 1} Main St`,
    ownerContact: 'bench',
    lat: 29.3,
    lon: 117.2,
  }))
  const res = await fetch(`${gw.httpUrl}/api/v1/devices/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(rows),
  })
  if (res.status !== 201) throw new Error(`provisioning failed: ${res.status}`)
  const creds = ((await res.json()) as { created: Array<{ id: string; secret: string }> }).created
  const units: MqttClient[] = []
  for (const c of creds) units.push(await connectUnit(gw.mqttUrl, c.id, c.secret))

  const browser = await launchChromium()
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  await page.goto(`${gw.httpUrl}/#token=${gw.token}`)
  await page.waitForSelector('[data-testid=alert-feed]')
  await page.waitForTimeout(1500)
  await page.evaluate(() => {
    const w = window as unknown as { __painted: Record<string, number> }
    w.__painted = {}
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-event-id]')) {
        const id = el.getAttribute('data-event-id')
        if (id && !(id in w.__painted)) w.__painted[id] = performance.timeOrigin + performance.now()
      }
    }).observe(document.body, { childList: true, subtree: true })
  })
  const sentAt = new Map<string, number>()
  for (let i = 0; i < units.length; i++) {
    const eventId = randomUUID()
    const unit = units[i] as MqttClient
    const id = (creds[i] as { id: string }).id
    sentAt.set(eventId, performance.timeOrigin + performance.now())
    unit.publish(
      topicFor('event', id),
      JSON.stringify({ v: 1, ts: Date.now(), eventId, phase: 'start', kind: 'person', score: 0.9 }),
      { qos: 1 },
    )
    await new Promise((r) => setTimeout(r, args['every-ms']))
  }
  await page.waitForTimeout(3000)
  const painted = (await page.evaluate(
    () => (window as unknown as { __painted: Record<string, number> }).__painted,
  )) as Record<string, number>
  const latencies: number[] = []
  for (const [id, t] of sentAt) {
    const p = painted[id]
    if (p !== undefined) latencies.push(p - t)
  }
  latencies.sort((a, b) => a - b)
  const r = (n: number) => Math.round(n * 10) / 10
  const out = {
    args,
    events: sentAt.size,
    painted: latencies.length,
    latencyMs: {
      p50: r(percentile(latencies, 50)),
      p99: r(percentile(latencies, 99)),
      max: r(latencies.at(-1) ?? Number.NaN),
    },
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
  const file = saveResults('alert-paint', out)
  process.stdout.write(`results: ${path.relative(ROOT, file)}\n`)
  await browser.close()
  for (const u of units) u.end(true)
  await gw.stop()
} finally {
  await influxd.stop()
  fs.rmSync(tmp, { recursive: true, force: true })
}
