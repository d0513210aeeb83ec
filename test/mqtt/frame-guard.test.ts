import net from 'node:net'
import { type Duplex, duplexPair } from 'node:stream'
import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Metrics } from '../../gateway/src/metrics.js'
import type { ReasonedError } from '../../gateway/src/mqtt/disconnects.js'
import {
  CONNECT_MAX_BYTES,
  type FrameRefusal,
  guardFrames,
  openFrames,
} from '../../gateway/src/mqtt/frame-guard.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { until } from '../helpers/wait.js'

/** An MQTT fixed header [MQTT-2.2]: the type and flags byte, then the remaining length as a varint. */
function fixedHeader(typeAndFlags: number, remaining: number): Buffer {
  const out = [typeAndFlags]
  let n = remaining
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

/** A complete PUBLISH (QoS 0) with `body` bytes of payload. */
function publishPacket(topic: string, bodyBytes: number): Buffer {
  const t = Buffer.from(topic)
  const variable = Buffer.concat([Buffer.from([t.length >> 8, t.length & 0xff]), t])
  return Buffer.concat([
    fixedHeader(0x30, variable.length + bodyBytes),
    variable,
    Buffer.alloc(bodyBytes, 0x61),
  ])
}

/** A guarded broker side of an in-memory pair: what it read (the Buffers themselves) and what it refused. */
function guardedPair(limits = { connectBytes: 64, packetBytes: 1000 }) {
  const [peer, side] = duplexPair()
  const refusals: FrameRefusal[] = []
  const read: Buffer[] = []
  let error: ReasonedError | null = null
  const guarded = guardFrames(side, limits, (r) => refusals.push(r))
  guarded.on('data', (b: Buffer) => read.push(b))
  guarded.on('error', (err: ReasonedError) => {
    error = err
  })
  peer.on('error', () => {})
  return { peer, guarded, refusals, read, error: () => error }
}

/** Writes each piece on its own, so the guard sees the bytes split exactly there. */
async function writePieces(peer: Duplex, pieces: Buffer[]): Promise<void> {
  for (const p of pieces) {
    if (!peer.write(p)) await new Promise((r) => peer.once('drain', r))
  }
  await new Promise((r) => setImmediate(r))
}

describe('frame guard (the fixed header of every packet, as bytes arrive)', () => {
  it('hands on the very Buffers it is given, whatever the split, and refuses nothing within the limits', async () => {
    const g = guardedPair()
    const connect = publishPacket('c', 40) // a first packet under the CONNECT limit; the guard reads only headers
    connect[0] = 0x10
    const stream = Buffer.concat([connect, publishPacket('cam/x/heartbeat', 900), publishPacket('t', 0)])
    const first = stream.subarray(0, 1)
    // The remaining-length varint of the 900-byte packet lands across two writes.
    const cut = connect.length + 2
    const pieces = [first, stream.subarray(1, cut), stream.subarray(cut, cut + 1), stream.subarray(cut + 1)]
    openFrames(g.guarded) // as the broker does once CONNACK 0 is sent
    await writePieces(g.peer, pieces)
    expect(g.refusals).toEqual([])
    expect(Buffer.concat(g.read).equals(stream)).toBe(true)
    // Zero-copy: each chunk read is one of the Buffers written, not a copy.
    expect(g.read.every((b) => (pieces as Buffer[]).includes(b))).toBe(true)
    expect(g.guarded.destroyed).toBe(false)
  })

  it('refuses a first packet over the CONNECT limit from its header alone, before its body', async () => {
    const g = guardedPair()
    await writePieces(g.peer, [fixedHeader(0x10, 10 * 1024 ** 2)])
    await until('the socket is destroyed', () => g.guarded.destroyed)
    expect(g.refusals).toEqual([
      { stage: 'connect', packetType: 1, declared: 10 * 1024 ** 2, malformed: false },
    ])
    expect(g.error()?.disconnectReason).toBe('refused-frame-size')
    expect(g.read).toEqual([])
  })

  it('refuses as soon as a length split over reads passes the limit; until CONNACK every packet has the CONNECT limit', async () => {
    const g = guardedPair()
    // Four length bytes; the low ones alone (12,345 after the second) already pass the CONNECT limit.
    const header = fixedHeader(0x30, 200 * 1024 ** 2 + 12_345)
    // A small CONNECT, then a PUBLISH pipelined before CONNACK: the CONNECT limit still holds.
    const connect = fixedHeader(0x10, 10)
    await writePieces(g.peer, [Buffer.concat([connect, Buffer.alloc(10)]), header.subarray(0, 2)])
    expect(g.refusals).toEqual([])
    await writePieces(g.peer, [header.subarray(2, 3)])
    await until('the socket is destroyed', () => g.guarded.destroyed)
    expect(g.refusals).toEqual([{ stage: 'connect', packetType: 3, declared: 12_345, malformed: false }])
  })

  it('after CONNACK, refuses a packet over the packet limit and passes one at it', async () => {
    const g = guardedPair({ connectBytes: 64, packetBytes: 1000 })
    openFrames(g.guarded)
    const atLimit = publishPacket('t', 1000 - 3)
    await writePieces(g.peer, [atLimit])
    expect(g.refusals).toEqual([])
    await writePieces(g.peer, [fixedHeader(0x30, 1001)])
    await until('the socket is destroyed', () => g.guarded.destroyed)
    expect(g.refusals).toEqual([{ stage: 'session', packetType: 3, declared: 1001, malformed: false }])
  })

  it('closes on a remaining length longer than four bytes [MQTT-2.2.3] as a protocol error', async () => {
    const g = guardedPair({ connectBytes: 64, packetBytes: 2 ** 30 })
    openFrames(g.guarded)
    await writePieces(g.peer, [Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])])
    await until('the socket is destroyed', () => g.guarded.destroyed)
    expect(g.refusals[0]?.malformed).toBe(true)
    expect(g.error()?.disconnectReason).toBe('protocol-error')
  })
})

async function refusedByStage(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const v of (await metrics.framesRefused.get()).values) out[String(v.labels.stage)] = v.value
  return out
}

async function disconnectsFor(metrics: Metrics, reason: string, stage: string): Promise<number> {
  const v = (await metrics.disconnects.get()).values.find(
    (x) => x.labels.reason === reason && x.labels.stage === stage,
  )
  return v?.value ?? 0
}

/**
 * Streams up to `maxBytes` of filler after `header` as fast as the socket takes it, and stops when
 * the gateway closes the connection or after `maxMs`. Returns how many bytes the socket accepted.
 */
async function streamUntilClosed(
  socket: net.Socket,
  header: Buffer,
  maxBytes: number,
  maxMs: number,
): Promise<{ written: number; closed: boolean }> {
  let closed = false
  socket.on('error', () => {})
  socket.once('close', () => {
    closed = true
  })
  const chunk = Buffer.alloc(256 * 1024, 0x61)
  const deadline = Date.now() + maxMs
  let written = 0
  socket.write(header)
  while (!closed && written < maxBytes && Date.now() < deadline) {
    written += chunk.length
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        const done = () => {
          clearTimeout(t)
          resolve()
        }
        socket.once('drain', done)
        socket.once('close', done)
      })
    }
  }
  if (!closed) {
    const left = Math.max(0, deadline - Date.now())
    await until('the gateway closes the connection', () => closed, left).catch(() => {})
  }
  return { written, closed }
}

describe('frame guard in the gateway (real aedes over TCP)', () => {
  let t: TestGateway
  const clients: MqttClient[] = []
  beforeAll(async () => {
    t = await startTestGateway()
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await t?.stop()
  })
  const port = () => Number(new URL(t.gateway.mqttUrl).port)
  const unit = async (id: string) => {
    const u = await t.gateway.registry.create(deviceRow({ id }))
    const c = await connectUnit(t.gateway.mqttUrl, u.id, u.secret)
    c.on('error', () => {})
    clients.push(c)
    return { ...u, client: c }
  }

  it('a CONNECT declaring 10 MB is refused from its header: before any authentication, almost nothing is read', async () => {
    const metrics = t.gateway.metrics
    const before = await refusedByStage(metrics)
    const disconnectsBefore = await disconnectsFor(metrics, 'refused-frame-size', 'connect')
    const s = net.connect(port(), '127.0.0.1')
    await new Promise((r) => s.once('connect', r))
    // The header and a first slice of the body: unguarded, aedes would wait for the other 10 MB.
    const { closed } = await streamUntilClosed(s, fixedHeader(0x10, 10 * 1024 ** 2), 256 * 1024, 5000)
    expect(closed).toBe(true)
    await expect.poll(async () => (await refusedByStage(metrics)).connect).toBe((before.connect ?? 0) + 1)
    await expect
      .poll(() => disconnectsFor(metrics, 'refused-frame-size', 'connect'))
      .toBe(disconnectsBefore + 1)
  })

  it('a connected unit’s PUBLISH declaring 200 MB closes its connection early; the gateway’s memory does not take the payload', async () => {
    const metrics = t.gateway.metrics
    const u = await unit('cam-fg-big')
    const before = await refusedByStage(metrics)
    const buffersBefore = process.memoryUsage().arrayBuffers
    // The unit's own socket, past mqtt.js: a real session, then a header no unit would send.
    const socket = u.client.stream as net.Socket
    const topic = Buffer.from(topicFor('event', u.id))
    const header = Buffer.concat([
      fixedHeader(0x30, 200 * 1024 ** 2),
      Buffer.from([topic.length >> 8, topic.length & 0xff]),
      topic,
    ])
    const streamed = 64 * 1024 ** 2
    const { written, closed } = await streamUntilClosed(socket, header, streamed, 20_000)
    const grown = process.memoryUsage().arrayBuffers - buffersBefore
    expect(closed).toBe(true)
    expect(written).toBeLessThan(streamed)
    // Unguarded, the parser holds every byte of the unfinished packet: tens of MB here.
    expect(grown).toBeLessThan(16 * 1024 ** 2)
    await expect.poll(async () => (await refusedByStage(metrics)).session).toBe((before.session ?? 0) + 1)
    await expect.poll(() => disconnectsFor(metrics, 'refused-frame-size', 'session')).toBeGreaterThan(0)
  })

  it('units keep working: a payload near the payload limit is taken, and acknowledged', async () => {
    const u = await unit('cam-fg-normal')
    const seen: number[] = []
    t.gateway.bus.on('device.heartbeat', ({ device, heartbeat: hb }) => {
      if (device.id === u.id) seen.push(hb.uptimeS)
    })
    // Unknown fields are dropped, not refused: padding makes a valid heartbeat of almost 16 KiB.
    const big = { ...heartbeat({ uptimeS: 4242 }), pad: 'x'.repeat(16 * 1024 - 300) }
    expect(JSON.stringify(big).length).toBeGreaterThan(CONNECT_MAX_BYTES * 15)
    await publish(u.client, topicFor('heartbeat', u.id), big, 1)
    expect(seen).toContain(4242)
    expect(u.client.connected).toBe(true)
  })
})
