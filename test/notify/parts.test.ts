import type { NotificationPayload } from '@doorstep/proto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { openDb } from '../../gateway/src/db/index.js'
import { EventBus } from '../../gateway/src/event-bus.js'
import { createLogger } from '../../gateway/src/log.js'
import { backoffMs, MAX_BACKOFF_MS } from '../../gateway/src/notify/backoff.js'
import { Deliveries } from '../../gateway/src/notify/deliveries.js'
import { Notifier } from '../../gateway/src/notify/index.js'
import { type Channel, NotifyStore } from '../../gateway/src/notify/notify-store.js'
import { OfflineTimers } from '../../gateway/src/notify/offline-timers.js'
import { inQuietHours } from '../../gateway/src/notify/quiet-hours.js'
import { scrub } from '../../gateway/src/notify/scrub.js'
import { RepeatWindows } from '../../gateway/src/notify/windows.js'
import { deviceRecord } from '../helpers/devices.js'
import { tempDir } from '../helpers/tmp.js'

const log = createLogger('silent')

describe('backoff', () => {
  it('doubles per try, half of each step random, capped', () => {
    expect(backoffMs(1, 1000, () => 0)).toBe(500)
    expect(backoffMs(1, 1000, () => 1)).toBe(1000)
    expect(backoffMs(4, 1000, () => 0)).toBe(4000)
    expect(backoffMs(4, 1000, () => 0.999)).toBeLessThanOrEqual(8000)
    expect(backoffMs(30, 1000, () => 1)).toBe(MAX_BACKOFF_MS)
  })
})

describe('quiet hours', () => {
  const at = (iso: string) => Date.parse(iso)
  it('a span within a day, one across midnight, none when both ends are equal', () => {
    const day = { start: '09:00', end: '17:00', timeZone: 'UTC' }
    expect(inQuietHours(day, at('2026-03-01T08:59:00Z'))).toBe(false)
    expect(inQuietHours(day, at('2026-03-01T09:00:00Z'))).toBe(true)
    expect(inQuietHours(day, at('2026-03-01T17:00:00Z'))).toBe(false)
    const night = { start: '22:00', end: '07:00', timeZone: 'UTC' }
    expect(inQuietHours(night, at('2026-03-01T23:30:00Z'))).toBe(true)
    expect(inQuietHours(night, at('2026-03-01T06:59:00Z'))).toBe(true)
    expect(inQuietHours(night, at('2026-03-01T12:00:00Z'))).toBe(false)
    expect(inQuietHours({ start: '05:00', end: '05:00', timeZone: 'UTC' }, at('2026-03-01T05:00:00Z'))).toBe(
      false,
    )
    expect(inQuietHours(null, at('2026-03-01T05:00:00Z'))).toBe(false)
  })
  it("reads the clock of the rule's time zone", () => {
    // 15:00 UTC is 23:00 in Shanghai (UTC+8): inside 22:00–07:00 there, not in UTC.
    const q = { start: '22:00', end: '07:00', timeZone: 'Asia/Shanghai' }
    expect(inQuietHours(q, at('2026-03-01T15:00:00Z'))).toBe(true)
    expect(inQuietHours({ ...q, timeZone: 'UTC' }, at('2026-03-01T15:00:00Z'))).toBe(false)
  })
})

describe('scrub', () => {
  it('removes every secret from an error and cuts it short', () => {
    const text = scrub(new Error('login sk-123456 refused for whsec_abc123'), [
      'whsec_abc123',
      'sk-123456',
      null,
    ])
    expect(text).toBe('login [redacted] refused for [redacted]')
    expect(scrub('x'.repeat(1000), []).length).toBeLessThan(310)
  })
})

describe('timers and windows (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('an offline timer fires unless the unit returns; the bound refuses and counts', () => {
    const fired: string[] = []
    const timers = new OfflineTimers(2)
    expect(timers.start('a', 'r1', 1000, () => fired.push('a'))).toBe(true)
    expect(timers.start('a', 'r1', 1000, () => fired.push('a again'))).toBe(true)
    expect(timers.start('b', 'r1', 1000, () => fired.push('b'))).toBe(true)
    expect(timers.start('c', 'r1', 1000, () => fired.push('c'))).toBe(false)
    expect(timers.refused).toBe(1)
    timers.cancelDevice('b')
    expect(timers.size).toBe(1)
    vi.advanceTimersByTime(1000)
    expect(fired).toEqual(['a'])
    expect(timers.size).toBe(0)
    timers.start('d', 'r2', 500, () => fired.push('d'))
    timers.cancelRule('r2')
    vi.advanceTimersByTime(1000)
    expect(fired).toEqual(['a'])
  })

  it('repeats in a window are counted into one close; a quiet window closes silently', () => {
    const closed: Array<[string, number, string]> = []
    const w = new RepeatWindows<string>(10, (k, n, last) => closed.push([k, n, last]))
    expect(w.absorb('k', 'first')).toBe(false)
    w.open('k', 1000)
    expect(w.absorb('k', 'second')).toBe(true)
    expect(w.absorb('k', 'third')).toBe(true)
    w.open('quiet', 1000)
    vi.advanceTimersByTime(1000)
    expect(closed).toEqual([['k', 2, 'third']])
    expect(w.size).toBe(0)
  })

  it('deliveries retry with backoff and end as sent, or as a dead letter with a scrubbed reason', async () => {
    const db = openDb(':memory:')
    const store = new NotifyStore(db)
    store.migrate()
    const secret = 'whsec_unit-test-secret'
    const channel: Channel = {
      id: '00000000-0000-4000-8000-000000000001',
      type: 'webhook',
      name: 'w',
      url: 'http://127.0.0.1:9/',
      to: null,
      createdAt: 0,
      secret,
    }
    let failures = 2
    const tries: number[] = []
    const d = new Deliveries({
      store,
      log,
      send: async () => {
        tries.push(Date.now())
        if (failures-- > 0) throw new Error(`refused, secret was ${secret}`)
      },
      attempts: 3,
      retryBaseMs: 1000,
      timeoutMs: 5000,
      secrets: () => [],
      random: () => 1,
    })
    d.start()
    const row = (status: 'sent' | 'failed') =>
      store.record(
        {
          ruleId: '00000000-0000-4000-8000-000000000002',
          channelId: channel.id,
          at: 0,
          status: 'pending',
          kind: 'tamper',
          severity: 'critical',
          subject: `device:${status}`,
          message: 'm',
          suppressedCount: 0,
          reason: null,
        },
        0,
      )
    const payload = (id: string): NotificationPayload => ({
      id,
      ruleId: '00000000-0000-4000-8000-000000000002',
      rule: 'r',
      kind: 'tamper',
      severity: 'critical',
      deviceId: null,
      district: null,
      campaignId: null,
      message: 'm',
      suppressedCount: 0,
      at: 0,
    })
    const ok = row('sent')
    d.deliver(channel, payload(ok.id))
    await vi.advanceTimersByTimeAsync(1000 + 2000)
    expect(tries.map((t) => t - (tries[0] ?? 0))).toEqual([0, 1000, 3000])
    expect(store.notifications({ limit: 10 })[0]).toMatchObject({ status: 'sent', attempts: 3 })

    failures = 10
    const dead = row('failed')
    d.deliver(channel, payload(dead.id))
    await vi.advanceTimersByTimeAsync(10_000)
    const [last] = store.notifications({ status: 'failed', limit: 10 })
    expect(last).toMatchObject({ id: dead.id, attempts: 3, reason: 'refused, secret was [redacted]' })
    d.stop()
    db.close()
  })

  it('the notifier times offline units up to DOORSTEP_NOTIFY_MAX_TIMERS, and a return cancels', () => {
    const tmp = tempDir()
    const db = openDb(':memory:')
    const bus = new EventBus(log)
    const config = configFrom({ DOORSTEP_DATA_DIR: tmp.dir, DOORSTEP_NOTIFY_MAX_TIMERS: 2 })
    const notifier = new Notifier({ db, bus, config, log })
    notifier.start()
    try {
      const channel = notifier.createChannel({ type: 'push', name: 'p' })
      notifier.createRule({ name: 'r', kind: 'offline', offlineMinutes: 5, channels: [channel.id] })
      const go = (id: string, to: 'offline' | 'online') =>
        bus.emit('presence.changed', {
          device: deviceRecord({ id }),
          from: to === 'offline' ? 'online' : 'offline',
          to,
          at: Date.now(),
          reason: 'test',
        })
      go('cam-t1', 'offline')
      go('cam-t2', 'offline')
      go('cam-t3', 'offline')
      expect(notifier.offlineTimers).toEqual({ running: 2, refused: 1 })
      go('cam-t1', 'online')
      expect(notifier.offlineTimers.running).toBe(1)
    } finally {
      notifier.stop()
      db.close()
      tmp.cleanup()
    }
  })
})
