import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Alert, DeviceEvent, ServerFrame } from '@doorstep/proto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { WebSocketServer } from 'ws'
import { observeAlerts } from '../../device-sim/src/alerts.js'
import { AlertHub } from '../../gateway/src/alerts/alert-hub.js'
import { AlertRules } from '../../gateway/src/alerts/alert-rules.js'
import { configFrom } from '../../gateway/src/config.js'
import { EventBus } from '../../gateway/src/event-bus.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import type { DeviceRecord } from '../../gateway/src/registry/registry.js'
import { deviceRecord } from '../helpers/devices.js'

const unit = deviceRecord({ id: 'cam-fold', district: 3, address: '3 Main St' })

describe('folding a chattering unit’s alerts', () => {
  let rules: AlertRules | null = null
  afterEach(() => rules?.stop())

  describe('on a fake clock', () => {
    const FOLD_MS = 30_000
    let bus: EventBus
    let seen: Alert[]
    const detect = (device: DeviceRecord, kind: DeviceEvent['kind'] = 'person', score = 0.5) => {
      const eventId = randomUUID()
      bus.emit('device.event', {
        device,
        event: { v: 1, ts: 0, eventId, phase: 'start', kind, score },
        at: Date.now(),
      })
      return eventId
    }

    beforeEach(() => {
      vi.useFakeTimers({ now: 1_800_000_000_000, toFake: ['Date', 'setTimeout', 'clearTimeout'] })
      bus = new EventBus(createLogger('silent'))
      const hub = new AlertHub(createMetrics(), 1000)
      seen = []
      hub.subscribe((a) => seen.push(a))
      rules = new AlertRules({ bus, hub, config: configFrom({}), foldMs: FOLD_MS })
      rules.start()
    })
    afterEach(() => {
      vi.useRealTimers()
    })

    it('the first alert goes out at once; repeats come as one summary when the window closes, not before', () => {
      const t0 = Date.now()
      const ids = [detect(unit, 'person', 0.5)]
      vi.advanceTimersByTime(1)
      ids.push(detect(unit, 'person', 0.6))
      vi.advanceTimersByTime(1)
      ids.push(detect(unit, 'person', 0.7))
      expect(seen).toHaveLength(1)
      expect(seen[0]).toMatchObject({ kind: 'person', count: 1, eventId: ids[0], at: t0 })
      expect(seen[0]?.foldedMs).toBeUndefined()
      vi.advanceTimersByTime(FOLD_MS - 3)
      expect(seen).toHaveLength(1)
      vi.advanceTimersByTime(1)
      expect(seen).toHaveLength(2)
      expect(seen[1]).toMatchObject({
        kind: 'person',
        count: 2,
        foldedMs: FOLD_MS,
        eventId: ids[2],
        at: t0 + 2,
        message: expect.stringContaining('(2× in 30 s)'),
      })
    })

    it('a summary opens a fresh window; a quiet window closes silently and the next alert goes out at once', () => {
      detect(unit)
      detect(unit)
      vi.advanceTimersByTime(FOLD_MS)
      expect(seen.map((a) => a.count)).toEqual([1, 1])
      // Inside the window the summary opened: folded again.
      detect(unit)
      expect(seen).toHaveLength(2)
      vi.advanceTimersByTime(FOLD_MS)
      expect(seen.map((a) => a.count)).toEqual([1, 1, 1])
      expect(seen[2]?.foldedMs).toBe(FOLD_MS)
      // That window had no repeats: it closes without an alert, and the next one is immediate.
      vi.advanceTimersByTime(FOLD_MS)
      expect(seen).toHaveLength(3)
      vi.advanceTimersByTime(5 * FOLD_MS)
      expect(seen).toHaveLength(3)
      const id = detect(unit)
      expect(seen).toHaveLength(4)
      expect(seen[3]).toMatchObject({ count: 1, eventId: id })
      expect(seen[3]?.foldedMs).toBeUndefined()
    })

    it('folds per unit and per kind', () => {
      const other = deviceRecord({ id: 'cam-fold-2', district: 3 })
      detect(unit, 'person')
      detect(unit, 'vehicle')
      detect(other, 'person')
      detect(unit, 'person')
      expect(seen.map((a) => `${a.deviceId}:${a.kind}:${a.count}`)).toEqual([
        'cam-fold:person:1',
        'cam-fold:vehicle:1',
        'cam-fold-2:person:1',
      ])
      vi.advanceTimersByTime(FOLD_MS)
      expect(seen.slice(3).map((a) => `${a.deviceId}:${a.kind}:${a.count}`)).toEqual(['cam-fold:person:1'])
    })

    it('stop drops open windows: no summary comes after it', () => {
      detect(unit)
      detect(unit)
      rules?.stop()
      rules = null
      vi.advanceTimersByTime(10 * FOLD_MS)
      expect(seen).toHaveLength(1)
      expect(vi.getTimerCount()).toBe(0)
    })
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
