import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Alert, ServerFrame } from '@doorstep/proto'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { observeAlerts } from '../../device-sim/src/alerts.js'
import { AlertHub } from '../../gateway/src/alerts/alert-hub.js'
import { AlertRules } from '../../gateway/src/alerts/alert-rules.js'
import { configFrom } from '../../gateway/src/config.js'
import { EventBus } from '../../gateway/src/event-bus.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { deviceRecord } from '../helpers/devices.js'

const unit = deviceRecord({ id: 'cam-fold', district: 3, address: '3 Main St' })

describe('folding a chattering unit’s alerts', () => {
  let rules: AlertRules | null = null
  afterEach(() => rules?.stop())

  it('the first alert goes out at once; repeats come as one summary marked with the window', async () => {
    const bus = new EventBus(createLogger('silent'))
    const hub = new AlertHub(createMetrics(), 1000)
    const seen: Alert[] = []
    hub.subscribe((a) => seen.push(a))
    rules = new AlertRules({ bus, hub, config: configFrom({}), foldMs: 150 })
    rules.start()
    const ids = [randomUUID(), randomUUID(), randomUUID()]
    for (const [i, eventId] of ids.entries()) {
      bus.emit('device.event', {
        device: unit,
        event: { v: 1, ts: 0, eventId, phase: 'start', kind: 'person', score: 0.5 + i / 10 },
        at: 1000 + i,
      })
    }
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ kind: 'person', count: 1, eventId: ids[0] })
    expect(seen[0]?.foldedMs).toBeUndefined()
    await expect.poll(() => seen.length, { timeout: 2000 }).toBe(2)
    expect(seen[1]).toMatchObject({ kind: 'person', count: 2, foldedMs: 150, eventId: ids[2], at: 1002 })
  })

  it('the simulator’s observer times immediate alerts only (real WebSocket)', async () => {
    const server = http.createServer()
    const wss = new WebSocketServer({ server })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    const now = Date.now()
    const [a, b] = [randomUUID(), randomUUID()]
    const frame = (f: ServerFrame) => JSON.stringify(f)
    wss.on('connection', (ws) => {
      ws.send(frame({ type: 'ready', lastId: 0, serverTime: now }))
      const base = { at: now, kind: 'motion', severity: 'info', deviceId: 'cam-fold', district: 3 } as const
      ws.send(frame({ type: 'alert', alert: { ...base, id: 1, eventId: a, count: 1, message: 'm' } }))
      ws.send(
        frame({
          type: 'alert',
          alert: { ...base, id: 2, eventId: b, count: 1, foldedMs: 30_000, message: 'm' },
        }),
      )
    })
    const sent = new Map<string, number>([
      [a, Date.now() - 5],
      [b, Date.now() - 30_000],
    ])
    const obs = await observeAlerts(`http://127.0.0.1:${port}`, 'token', { sentAt: (id) => sent.get(id) })
    try {
      await expect.poll(() => obs.counts().alerts, { timeout: 2000 }).toBe(2)
      expect(obs.counts()).toMatchObject({ matched: 1, folded: 1 })
      expect(obs.latencies()).toHaveLength(1)
      expect(obs.latencies()[0]).toBeLessThan(10_000)
    } finally {
      obs.close()
      wss.close()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})
