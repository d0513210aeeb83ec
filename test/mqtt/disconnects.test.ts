import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DoorstepError } from '../../gateway/src/errors.js'
import type { Metrics } from '../../gateway/src/metrics.js'
import {
  DISCONNECT_REASONS,
  type DisconnectReason,
  reasonOfError,
} from '../../gateway/src/mqtt/disconnects.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectPacket, connectUnit, end, publish, refusedCode } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'

const withCode = (message: string, code: string | number, key = 'code') =>
  Object.assign(new Error(message), { [key]: code })

/** What aedes 1.2 and the gateway pass to `clientError`/`connectionError`, and the reason each must give. */
const ERRORS: Array<[Error, DisconnectReason]> = [
  [new Error('keep alive timeout'), 'keepalive'],
  [new Error('connect did not arrive in time'), 'connect-timeout'],
  [new Error('drain timeout'), 'slow-reader'],
  [new Error('connection closed'), 'socket-error'],
  [withCode('read ECONNRESET', 'ECONNRESET'), 'socket-error'],
  [withCode('write EPIPE', 'EPIPE'), 'socket-error'],
  [withCode('Server unavailable', 3, 'errorCode'), 'refused-admission'],
  [withCode('bad user name or password', 4, 'errorCode'), 'refused-auth'],
  [withCode('identifier rejected', 2, 'errorCode'), 'refused-auth'],
  [withCode('not authorized', 5, 'errorCode'), 'refused-auth'],
  [withCode('unacceptable protocol version', 1, 'errorCode'), 'refused-protocol'],
  [withCode('keep alive limit exceeded', 6, 'errorCode'), 'refused-protocol'],
  [
    Object.assign(new Error('too many connections being checked'), {
      errorCode: 3,
      disconnectReason: 'refused-busy',
    }),
    'refused-busy',
  ],
  [
    Object.assign(new Error('the other gateways cannot be told of this session; retry later'), {
      errorCode: 3,
      disconnectReason: 'refused-cluster',
    }),
    'refused-cluster',
  ],
  [
    Object.assign(new Error('too many failed attempts for this unit'), {
      errorCode: 3,
      disconnectReason: 'refused-backoff',
    }),
    'refused-backoff',
  ],
  [
    Object.assign(new Error('this unit has a session that just started'), {
      errorCode: 3,
      disconnectReason: 'refused-takeover',
    }),
    'refused-takeover',
  ],
  [
    Object.assign(new Error('not authorized for this topic'), { disconnectReason: 'kicked-acl' }),
    'kicked-acl',
  ],
  [
    Object.assign(new Error('packet declares 209715200 bytes, over the limit of 65536'), {
      disconnectReason: 'refused-frame-size',
    }),
    'refused-frame-size',
  ],
  [new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'flooding'), 'kicked-flood'],
  [new DoorstepError('DOORSTEP_ERR_SPOOL_FULL'), 'kicked-spool'],
  [new DoorstepError('DOORSTEP_ERR_NOT_FOUND'), 'kicked-acl'],
  [new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN'), 'shutdown'],
  [new Error('spool worker exited (1)'), 'kicked-spool'],
  [new Error('Invalid header flag bits, must be 0x0 for connect packet'), 'protocol-error'],
  [new Error('# is not allowed in PUBLISH'), 'protocol-error'],
]
/** Decided by the broker from the connection itself when no error was reported (broker.ts #reasonFor). */
const WITHOUT_ERROR: DisconnectReason[] = [
  'clean',
  'peer-closed',
  'shutdown',
  'takeover',
  'protocol-error',
  // A unit disabled or given a new secret while connected (broker.ts #closeRevoked).
  'revoked',
]

describe('reasonOfError', () => {
  it.each(ERRORS.map(([err, reason]) => [err.message, err, reason] as const))(
    '%s → %s',
    (_m, err, reason) => {
      expect(reasonOfError(err)).toBe(reason)
    },
  )

  it('every declared reason is one the broker can give, and nothing else is given', () => {
    const given = new Set<string>([...ERRORS.map(([, r]) => r), ...WITHOUT_ERROR])
    expect([...given].sort()).toEqual([...DISCONNECT_REASONS].sort())
  })
})

/** The counter by reason, both stages added up. */
async function counted(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const v of (await metrics.disconnects.get()).values) {
    const r = String(v.labels.reason)
    out[r] = (out[r] ?? 0) + v.value
  }
  return out
}

/** A raw TCP connection that has sent CONNECT and read CONNACK 0. */
async function rawSession(port: number, id: string, secret: string, keepaliveS: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject)
    s.once('data', (d) =>
      d[0] === 0x20 && d[3] === 0 ? resolve() : reject(new Error(`no CONNACK 0: ${d.toString('hex')}`)),
    )
    s.write(connectPacket(id, secret, keepaliveS))
  })
  s.on('error', () => {})
  return s
}

describe('disconnects by reason (real aedes over TCP)', () => {
  let t: TestGateway
  const clients: MqttClient[] = []
  let seq = 0
  /** Short, so the takeover test can outlive it; the default is 15 s. */
  const HOLD_MS = 1000
  beforeAll(async () => {
    t = await startTestGateway({ DOORSTEP_TAKEOVER_HOLD_MS: HOLD_MS })
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await t?.stop()
  })

  const unit = async () => {
    const c = await t.gateway.registry.create(deviceRow({ id: `cam-dr-${seq++}` }))
    return c
  }
  const connect = async (id: string, secret: string, extra = {}) => {
    const c = await connectUnit(t.gateway.mqttUrl, id, secret, extra)
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  /** Runs `act` and waits until `reason` moved by one and nothing else moved. */
  const expectOne = async (reason: DisconnectReason, act: () => Promise<unknown>) => {
    const before = await counted(t.gateway.metrics)
    await act()
    await expect
      .poll(async () => (await counted(t.gateway.metrics))[reason], { timeout: 5000 })
      .toBe((before[reason] ?? 0) + 1)
    const after = await counted(t.gateway.metrics)
    const moved = Object.keys(after).filter((k) => after[k] !== before[k])
    expect(moved).toEqual([reason])
  }
  const port = () => Number(new URL(t.gateway.mqttUrl).port)

  it('clean: the unit sent DISCONNECT', async () => {
    const u = await unit()
    const c = await connect(u.id, u.secret)
    await expectOne('clean', () => end(c))
  })

  it('peer-closed: the unit closed its socket without DISCONNECT', async () => {
    const u = await unit()
    const c = await connect(u.id, u.secret)
    await expectOne('peer-closed', async () => c.stream.destroy())
  })

  it('socket-error: the connection was reset', async () => {
    const u = await unit()
    const s = await rawSession(port(), u.id, u.secret, 60)
    await expectOne('socket-error', async () => s.resetAndDestroy())
  })

  it('keepalive: nothing heard for 1.5 × the keepalive', async () => {
    const u = await unit()
    let s: net.Socket | null = null
    await expectOne('keepalive', async () => {
      s = await rawSession(port(), u.id, u.secret, 1)
    })
    ;(s as net.Socket | null)?.destroy()
  })

  it('takeover: the same unit connected again, once its session is older than the hold', async () => {
    const u = await unit()
    await connect(u.id, u.secret)
    // Time must pass for the session to age; nothing is awaited from the gateway here.
    await new Promise((r) => setTimeout(r, HOLD_MS + 50))
    await expectOne('takeover', () => connect(u.id, u.secret))
  })

  it('refused-takeover: the same unit connected again while its session is young', async () => {
    const u = await unit()
    const live = await connect(u.id, u.secret)
    await expectOne('refused-takeover', async () => {
      expect(await refusedCode(t.gateway.mqttUrl, u.id, u.secret)).toBe(3)
    })
    expect(live.connected).toBe(true)
  })

  it('refused-auth: a wrong secret', async () => {
    const u = await unit()
    await expectOne('refused-auth', async () => {
      expect(await refusedCode(t.gateway.mqttUrl, u.id, `${u.secret}x`)).toBe(4)
    })
  })

  it('refused-protocol: a CONNECT without keepalive, over aedes’ keepalive limit', async () => {
    const u = await unit()
    await expectOne('refused-protocol', async () => {
      expect(await refusedCode(t.gateway.mqttUrl, u.id, u.secret, { keepalive: 0 })).toBe(6)
    })
  })

  it('kicked-acl: a publish on another unit’s topic', async () => {
    const u = await unit()
    const c = await connect(u.id, u.secret)
    await expectOne('kicked-acl', async () => {
      c.publish(topicFor('heartbeat', 'cam-someone-else'), JSON.stringify(heartbeat()), { qos: 1 })
    })
  })

  it('kicked-flood: more invalid payloads than the flood limit', async () => {
    const u = await unit()
    const c = await connect(u.id, u.secret)
    await expectOne('kicked-flood', async () => {
      for (let i = 0; i < 60; i++) c.publish(topicFor('heartbeat', u.id), 'not json', { qos: 0 })
    })
  })

  it('protocol-error: a packet the parser refuses, and one a client may not send', async () => {
    const u = await unit()
    const garbage = await rawSession(port(), u.id, u.secret, 60)
    // Packet type 0 is reserved [MQTT-2.2.1].
    await expectOne('protocol-error', async () => garbage.write(Buffer.from([0x00, 0x00])))
    const v = await unit()
    const pingresp = await rawSession(port(), v.id, v.secret, 60)
    // PINGRESP goes server → client only; aedes closes without an error.
    await expectOne('protocol-error', async () => pingresp.write(Buffer.from([0xd0, 0x00])))
  })

  it('listens with room for a reconnect storm: the backlog is 4096, or the kernel cap if lower', () => {
    // A full accept queue lets connections a unit gave up on in later, to take over its live session.
    const cap = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))
    const out = execFileSync('ss', ['-Hltn', `sport = :${port()}`], { encoding: 'utf8' })
    // State, Recv-Q, Send-Q (the backlog of a listening socket), local address, peer address.
    const backlog = Number(out.trim().split(/\s+/)[2])
    expect(backlog).toBe(Math.min(4096, cap))
  })

  it('a unit that keeps its session is not counted', async () => {
    const u = await unit()
    const c = await connect(u.id, u.secret)
    const before = await counted(t.gateway.metrics)
    await publish(c, topicFor('heartbeat', u.id), heartbeat(), 1)
    expect(await counted(t.gateway.metrics)).toEqual(before)
  })
})

describe('disconnects at admission and shutdown (real aedes over TCP)', () => {
  let t: TestGateway
  let stopped = false
  beforeAll(async () => {
    t = await startTestGateway({ DOORSTEP_CONNECT_RATE: 1 })
  })
  afterAll(async () => {
    if (!stopped) await t?.stop()
  })

  it('refused-admission: each CONNACK 3 of the admission rate is counted; shutdown: the units still connected', async () => {
    const units = await t.gateway.registry.importMany(
      Array.from({ length: 4 }, (_, i) => deviceRow({ id: `cam-da-${i}` })),
    )
    const outcomes = await Promise.all(
      units.map((u) =>
        connectUnit(t.gateway.mqttUrl, u.id, u.secret).then(
          (c) => {
            c.on('error', () => {})
            return c
          },
          (err: { code?: number }) => err.code ?? -1,
        ),
      ),
    )
    const refused = outcomes.filter((o) => o === 3).length
    const connected = outcomes.filter((o): o is MqttClient => typeof o !== 'number')
    expect(refused).toBeGreaterThan(0)
    expect(refused + connected.length).toBe(units.length)
    const metrics = t.gateway.metrics
    await expect.poll(async () => (await counted(metrics))['refused-admission']).toBe(refused)
    stopped = true
    await t.stop()
    await expect.poll(async () => (await counted(metrics)).shutdown).toBe(connected.length)
  })
})
