import type { NotificationPayload } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { openDb } from '../../gateway/src/db/index.js'
import { Deliveries } from '../../gateway/src/notify/deliveries.js'
import { type Channel, NotifyStore } from '../../gateway/src/notify/notify-store.js'
import { capturingLogger } from '../helpers/log.js'

const RULE = '00000000-0000-4000-8000-000000000002'
const channel: Channel = {
  id: '00000000-0000-4000-8000-000000000001',
  type: 'webhook',
  name: 'w',
  url: 'http://127.0.0.1:9/',
  to: null,
  createdAt: 0,
  secret: 'whsec_bounds-test',
}

describe('notification deliveries, past their bound', () => {
  it('hold at most maxPending at once against a dead endpoint; the rest are dead letters at once', async () => {
    const db = openDb(':memory:')
    const store = new NotifyStore(db)
    store.migrate()
    const { log, text } = capturingLogger()
    const aborts: Array<() => void> = []
    const d = new Deliveries({
      store,
      log,
      // An endpoint that never answers: each try lasts until it is aborted.
      send: (_c, _p, signal) =>
        new Promise<void>((_, reject) => {
          aborts.push(() => reject(new Error('aborted')))
          signal.addEventListener('abort', () => reject(new Error('timed out')))
        }),
      attempts: 6,
      retryBaseMs: 60_000,
      timeoutMs: 60_000,
      secrets: () => [],
      maxPending: 100,
    })
    d.start()
    const payload = (id: string): NotificationPayload => ({
      id,
      ruleId: RULE,
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
    for (let i = 0; i < 250; i++) {
      const row = store.record(
        {
          ruleId: RULE,
          channelId: channel.id,
          at: 0,
          status: 'pending',
          kind: 'tamper',
          severity: 'critical',
          subject: `device:${i}`,
          message: 'm',
          suppressedCount: 0,
          reason: null,
        },
        0,
      )
      d.deliver(channel, payload(row.id))
      expect(d.pending).toBeLessThanOrEqual(100)
    }
    expect(d.pending).toBe(100)
    const dead = store.notifications({ status: 'failed', limit: 1000 })
    expect(dead).toHaveLength(150)
    expect(dead[0]?.reason).toBe('too many deliveries pending')
    // One warning, not one per refusal.
    expect(text().match(/too many notification deliveries pending/g)).toHaveLength(1)
    d.stop()
    db.close()
  })
})
