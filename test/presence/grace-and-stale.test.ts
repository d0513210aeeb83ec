import type { LiveState } from '@doorstep/proto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { sqliteSharedDb } from '../../gateway/src/db/index.js'
import { type Db, openDb } from '../../gateway/src/db/sqlite.js'
import { EventBus } from '../../gateway/src/event-bus.js'
import { createLogger } from '../../gateway/src/log.js'
import { Presence } from '../../gateway/src/presence/presence.js'
import { StoredDeviceRegistry } from '../../gateway/src/registry/stored-registry.js'
import { deviceRow } from '../helpers/devices.js'
import { heartbeat } from '../helpers/payloads.js'

const GRACE_MS = 5000
const INTERVAL_S = 10
/** The sweeper runs every half interval (at most 5 s): a unit is marked stale by the first sweep past the limit. */
const SWEEP_MS = 5000
const STALE_AFTER_MS = 3 * INTERVAL_S * 1000

/**
 * Presence's clock-driven rules on a fake clock: the grace before offline and
 * the sweep that marks a silent unit stale. The bus events are the ones the
 * broker and ingest send; the full path over MQTT is in presence.test.ts.
 */
describe('presence on a fake clock', () => {
  let db: Db
  let bus: EventBus
  let presence: Presence | null = null
  let registry: StoredDeviceRegistry
  let lines: string[]
  let changes: Array<{ to: LiveState; reason: string; at: number }>

  const start = (graceMs = GRACE_MS) => {
    const p = new Presence({
      config: configFrom({
        DOORSTEP_PRESENCE_GRACE_MS: graceMs,
        DOORSTEP_HEARTBEAT_INTERVAL_S: INTERVAL_S,
      }),
      bus,
      registry,
      writeLine: (l) => lines.push(l),
    })
    p.start()
    presence = p
    return p
  }
  const unit = async (id: string) => {
    await registry.create(deviceRow({ id }))
    const d = registry.get(id)
    if (!d) throw new Error(`${id} was not created`)
    return d
  }

  beforeEach(async () => {
    // Only the clock and timers: the registry's scrypt runs on libuv threads either way.
    vi.useFakeTimers({
      now: 1_800_000_000_000,
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
    })
    db = openDb(':memory:')
    registry = new StoredDeviceRegistry(sqliteSharedDb(db))
    await registry.load()
    bus = new EventBus(createLogger('silent'))
    lines = []
    changes = []
    bus.on('presence.changed', ({ to, reason, at }) => changes.push({ to, reason, at }))
  })
  afterEach(() => {
    presence?.stop()
    presence = null
    db.close()
    vi.useRealTimers()
  })

  it('a lost connection goes offline only when the grace period is over, stamped with when it was lost', async () => {
    const p = start()
    const d = await unit('cam-grace-1')
    bus.emit('device.connected', { deviceId: d.id, at: Date.now() })
    const lostAt = Date.now()
    bus.emit('device.disconnected', { deviceId: d.id, at: lostAt, reason: 'will' })
    vi.advanceTimersByTime(GRACE_MS - 1)
    expect(p.stateOf(d.id).state).toBe('online')
    expect(lines).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(p.stateOf(d.id).state).toBe('offline')
    expect(changes).toEqual([
      { to: 'online', reason: 'connect', at: lostAt },
      { to: 'offline', reason: 'will', at: lostAt },
    ])
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/^presence,device=cam-grace-1,.* state="offline",reason="will" /)
  })

  it('a unit that reconnects inside the grace period never shows offline', async () => {
    const p = start()
    const d = await unit('cam-grace-2')
    bus.emit('device.connected', { deviceId: d.id, at: Date.now() })
    bus.emit('device.disconnected', { deviceId: d.id, at: Date.now(), reason: 'will' })
    vi.advanceTimersByTime(GRACE_MS - 1)
    bus.emit('device.connected', { deviceId: d.id, at: Date.now() })
    // Well past the first grace period, still short of the stale limit.
    vi.advanceTimersByTime(2 * GRACE_MS)
    expect(p.stateOf(d.id).state).toBe('online')
    expect(changes.map((c) => `${c.to}:${c.reason}`)).toEqual(['online:connect'])
    expect(lines).toHaveLength(1)
  })

  it('with no grace configured, offline is told at once', async () => {
    const p = start(0)
    const d = await unit('cam-grace-3')
    bus.emit('device.connected', { deviceId: d.id, at: Date.now() })
    bus.emit('device.disconnected', { deviceId: d.id, at: Date.now(), reason: 'clean' })
    expect(p.stateOf(d.id).state).toBe('offline')
    expect(changes.map((c) => `${c.to}:${c.reason}`)).toEqual(['online:connect', 'offline:clean'])
  })

  it('stop cancels a pending offline: nothing is written after it', async () => {
    const p = start()
    const d = await unit('cam-grace-4')
    bus.emit('device.connected', { deviceId: d.id, at: Date.now() })
    bus.emit('device.disconnected', { deviceId: d.id, at: Date.now(), reason: 'will' })
    p.stop()
    vi.advanceTimersByTime(10 * GRACE_MS)
    expect(lines).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a unit silent for three heartbeat intervals turns stale at the next sweep; its next heartbeat brings it back', async () => {
    const p = start()
    const d = await unit('cam-stale-1')
    const t0 = Date.now()
    bus.emit('device.connected', { deviceId: d.id, at: t0 })
    bus.emit('device.heartbeat', { device: d, heartbeat: heartbeat(), at: t0 })
    // Exactly three intervals is not yet "missed three".
    vi.advanceTimersByTime(STALE_AFTER_MS)
    expect(p.stateOf(d.id).state).toBe('online')
    vi.advanceTimersByTime(SWEEP_MS)
    expect(p.stateOf(d.id).state).toBe('stale')
    expect(changes.at(-1)).toEqual({
      to: 'stale',
      reason: 'missed 3 heartbeats',
      at: t0 + STALE_AFTER_MS + SWEEP_MS,
    })
    bus.emit('device.heartbeat', { device: d, heartbeat: heartbeat(), at: Date.now() })
    expect(p.stateOf(d.id).state).toBe('online')
    expect(changes.map((c) => `${c.to}:${c.reason}`)).toEqual([
      'online:connect',
      'stale:missed 3 heartbeats',
      'online:heartbeat',
    ])
    expect(lines).toHaveLength(3)
  })

  it('a unit that keeps its heartbeat never turns stale, and an offline one is never swept to stale', async () => {
    const p = start()
    const steady = await unit('cam-stale-2')
    const gone = await unit('cam-stale-3')
    bus.emit('device.connected', { deviceId: steady.id, at: Date.now() })
    bus.emit('device.connected', { deviceId: gone.id, at: Date.now() })
    bus.emit('device.disconnected', { deviceId: gone.id, at: Date.now(), reason: 'clean' })
    for (let i = 0; i < 30; i++) {
      bus.emit('device.heartbeat', { device: steady, heartbeat: heartbeat(), at: Date.now() })
      vi.advanceTimersByTime(INTERVAL_S * 1000)
    }
    expect(p.stateOf(steady.id).state).toBe('online')
    expect(p.stateOf(gone.id).state).toBe('offline')
    expect(changes.filter((c) => c.to === 'stale')).toEqual([])
  })
})
