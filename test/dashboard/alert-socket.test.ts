import type { ServerFrame } from '@doorstep/proto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  AlertSocket,
  type AlertSocketHandlers,
  type ConnState,
} from '../../dashboard/src/live/alert-socket.js'

/** A WebSocket stand-in the test drives by hand. */
class FakeSocket {
  static all: FakeSocket[] = []
  readyState = 0
  sent: unknown[] = []
  closed = false
  onopen: ((ev: Event) => unknown) | null = null
  onmessage: ((ev: MessageEvent) => unknown) | null = null
  onclose: ((ev: CloseEvent) => unknown) | null = null
  onerror: ((ev: Event) => unknown) | null = null
  constructor(readonly url: string) {
    FakeSocket.all.push(this)
  }
  send(data: string) {
    this.sent.push(JSON.parse(data))
  }
  close() {
    this.closed = true
  }
  open() {
    this.readyState = 1
    this.onopen?.(new Event('open'))
  }
  frame(f: ServerFrame | string) {
    this.onmessage?.({ data: typeof f === 'string' ? f : JSON.stringify(f) } as MessageEvent)
  }
  drop() {
    this.readyState = 3
    this.onclose?.({} as CloseEvent)
  }
}

const alertFrame = (id: number): ServerFrame => ({
  type: 'alert',
  alert: {
    id,
    at: 1,
    kind: 'online',
    severity: 'info',
    deviceId: 'cam-0001',
    district: 3,
    count: 1,
    message: 'up',
  },
})

function setup(opts: { backfill?: number } = {}) {
  const states: ConnState[] = []
  const batches: Array<{ ids: number[]; epoch: number }> = []
  const events: string[] = []
  const handlers: AlertSocketHandlers = {
    state: (s) => states.push(s),
    alerts: (a, epoch) => batches.push({ ids: a.map((x) => x.id), epoch }),
    ready: (i) => events.push(`ready:${i.serverLastId}:${i.restarted}:${i.resumed}`),
    gap: (a, b) => events.push(`gap:${a}-${b}`),
    dropped: (n) => events.push(`dropped:${n}`),
    serverError: (c) => events.push(`error:${c}`),
    failedOpen: () => events.push('failedOpen'),
    clip: (eventId) => events.push(`clip:${eventId}`),
    progress: (f) =>
      events.push(
        f.type === 'pull'
          ? `pull:${f.pullId}:${f.state}:${f.bytes}`
          : f.type === 'case'
            ? `case:${f.caseId}:${f.state}`
            : `campaign:${f.campaignId}:${f.state}:${f.unit ? `${f.unit.state}:${f.unit.bytes}` : '-'}`,
      ),
  }
  let token = 'tok-1'
  const socket = new AlertSocket({
    url: () => `ws://gw/api/v1/alerts?token=${token}`,
    handlers,
    backfill: opts.backfill ?? 200,
    backoff: { baseMs: 1000, maxMs: 8000 },
    batchMs: 10,
    createSocket: (url) => new FakeSocket(url),
    random: () => 1,
  })
  return { socket, states, batches, events, setToken: (t: string) => (token = t) }
}

const last = <T>(xs: T[]): T => xs[xs.length - 1] as T

describe('AlertSocket', () => {
  beforeEach(() => {
    FakeSocket.all = []
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('asks for a backfill on the first ready, then batches alerts', () => {
    const t = setup({ backfill: 50 })
    t.socket.start()
    const ws = FakeSocket.all[0] as FakeSocket
    expect(ws.url).toBe('ws://gw/api/v1/alerts?token=tok-1')
    ws.open()
    ws.frame({ type: 'ready', lastId: 120, serverTime: 5 })
    expect(ws.sent).toEqual([{ type: 'subscribe', lastId: 70 }])
    expect(last(t.states).kind).toBe('connected')
    ws.frame(alertFrame(71))
    ws.frame(alertFrame(72))
    expect(t.batches).toEqual([])
    vi.advanceTimersByTime(10)
    expect(t.batches).toEqual([{ ids: [71, 72], epoch: 0 }])
    expect(t.socket.lastId).toBe(72)
  })

  it('reconnects with growing delays and resumes from the last id', () => {
    const t = setup()
    t.socket.start()
    const first = FakeSocket.all[0] as FakeSocket
    first.open()
    first.frame({ type: 'ready', lastId: 10, serverTime: 5 })
    first.frame(alertFrame(11))
    first.drop()
    // random() = 1 puts the delay at its ceiling: 1 s, then 2 s, then 4 s.
    expect(last(t.states)).toMatchObject({ kind: 'waiting', attempt: 1 })
    vi.advanceTimersByTime(999)
    expect(FakeSocket.all.length).toBe(1)
    vi.advanceTimersByTime(1)
    expect(FakeSocket.all.length).toBe(2)
    ;(FakeSocket.all[1] as FakeSocket).drop()
    expect(t.events).toContain('failedOpen')
    vi.advanceTimersByTime(2000)
    const third = FakeSocket.all[2] as FakeSocket
    third.open()
    third.frame({ type: 'ready', lastId: 15, serverTime: 6 })
    expect(third.sent).toEqual([{ type: 'subscribe', lastId: 11 }])
    expect(t.events).toContain('ready:15:false:true')
    // A good connection resets the backoff.
    third.drop()
    expect(last(t.states)).toMatchObject({ kind: 'waiting', attempt: 1 })
  })

  it('notices a gateway restart by ids going backwards and starts a new epoch', () => {
    const t = setup({ backfill: 100 })
    t.socket.start()
    const a = FakeSocket.all[0] as FakeSocket
    a.open()
    a.frame({ type: 'ready', lastId: 500, serverTime: 1 })
    a.frame(alertFrame(501))
    a.drop()
    vi.advanceTimersByTime(1000)
    const b = FakeSocket.all[1] as FakeSocket
    b.open()
    b.frame({ type: 'ready', lastId: 3, serverTime: 2 })
    expect(t.events).toContain('ready:3:true:false')
    expect(b.sent).toEqual([{ type: 'subscribe', lastId: 0 }])
    b.frame(alertFrame(1))
    vi.advanceTimersByTime(10)
    expect(last(t.batches)).toEqual({ ids: [1], epoch: 1 })
  })

  it('notices a restart by a new boot id even when the new ids are already past the old ones', () => {
    const t = setup({ backfill: 100 })
    t.socket.start()
    const a = FakeSocket.all[0] as FakeSocket
    a.open()
    a.frame({ type: 'ready', lastId: 5, serverTime: 1, bootId: 'boot-a' })
    a.frame(alertFrame(6))
    a.drop()
    vi.advanceTimersByTime(1000)
    const b = FakeSocket.all[1] as FakeSocket
    b.open()
    b.frame({ type: 'ready', lastId: 900, serverTime: 2, bootId: 'boot-b' })
    expect(t.events).toContain('ready:900:true:false')
    expect(b.sent).toEqual([{ type: 'subscribe', lastId: 800 }])
  })

  it('reports gap, dropped and error frames and ignores frames that are not in proto', () => {
    const t = setup()
    t.socket.start()
    const ws = FakeSocket.all[0] as FakeSocket
    ws.open()
    ws.frame({ type: 'gap', afterId: 4, untilId: 90 })
    ws.frame({ type: 'dropped', count: 3 })
    ws.frame({ type: 'error', code: 'DOORSTEP_ERR_BAD_REQUEST', message: 'no' })
    ws.frame('not json')
    ws.frame(JSON.stringify({ type: 'alert', alert: { id: -1 } }))
    vi.advanceTimersByTime(100)
    expect(t.events).toEqual(['gap:4-90', 'dropped:3', 'error:DOORSTEP_ERR_BAD_REQUEST'])
    expect(t.batches).toEqual([])
  })

  it('passes campaign progress on, and drops a campaign frame that is not in proto', () => {
    const t = setup()
    t.socket.start()
    const ws = FakeSocket.all[0] as FakeSocket
    ws.open()
    const campaignId = '9b1e3c2a-3333-4c4c-8c8c-000000000003'
    const unit = { deviceId: 'cam-0001', district: 7, total: 100, reason: null }
    ws.frame({ type: 'campaign', campaignId, state: 'running', reason: null, unit: null })
    ws.frame({
      type: 'campaign',
      campaignId,
      state: 'running',
      reason: null,
      unit: { ...unit, state: 'downloading', bytes: 40 },
    })
    ws.frame(
      JSON.stringify({
        type: 'campaign',
        campaignId,
        state: 'running',
        reason: null,
        unit: { ...unit, state: 'bricked', bytes: 40 },
      }),
    )
    expect(t.events).toEqual([
      `campaign:${campaignId}:running:-`,
      `campaign:${campaignId}:running:downloading:40`,
    ])
  })

  it('passes case and pull progress on, and drops a pull frame that is not in proto', () => {
    const t = setup()
    t.socket.start()
    const ws = FakeSocket.all[0] as FakeSocket
    ws.open()
    const caseId = '9b1e3c2a-1111-4a4a-8a8a-000000000001'
    const pullId = '0f6c3c2a-2222-4b4b-8b8b-000000000002'
    ws.frame({ type: 'case', caseId, number: 'X-1', state: 'open' })
    const pull = {
      type: 'pull' as const,
      pullId,
      caseId,
      deviceId: 'cam-0001',
      district: 7,
      total: 100,
      reason: null,
    }
    ws.frame({ ...pull, state: 'uploading', bytes: 40 })
    ws.frame(JSON.stringify({ ...pull, state: 'uploading', bytes: -1 }))
    ws.frame({ ...pull, state: 'done', bytes: 100 })
    expect(t.events).toEqual([
      `case:${caseId}:open`,
      `pull:${pullId}:uploading:40`,
      `pull:${pullId}:done:100`,
    ])
  })

  it('uses the current token on each attempt and stops cleanly', () => {
    const t = setup()
    t.socket.start()
    ;(FakeSocket.all[0] as FakeSocket).drop()
    t.setToken('tok-2')
    t.socket.reconnectNow()
    expect((FakeSocket.all[1] as FakeSocket).url).toContain('token=tok-2')
    t.socket.stop()
    expect((FakeSocket.all[1] as FakeSocket).closed).toBe(true)
    expect(last(t.states).kind).toBe('stopped')
    vi.advanceTimersByTime(60_000)
    expect(FakeSocket.all.length).toBe(2)
  })
})
