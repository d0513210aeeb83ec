import { randomUUID } from 'node:crypto'
import net from 'node:net'
import type { ErrorBody } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

/** What a raw HTTP/1.1 exchange saw: the answer's bytes and whether the gateway closed the socket. */
interface RawExchange {
  answer: () => string
  closed: () => boolean
  sent: () => number
  destroy: () => void
}

/**
 * Starts a PUT that announces a `declared`-byte body and sends only its first
 * `sendBytes`, then keeps the socket open: the gateway can answer only if it
 * does so without waiting for the rest of the body.
 */
function startPut(
  url: string,
  path: string,
  headers: Record<string, string>,
  declared: number,
  sendBytes: number,
): RawExchange {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let answer = ''
  let closed = false
  let sent = 0
  socket.on('data', (d) => {
    answer += d.toString('latin1')
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    closed = true
  })
  const head = [
    `PUT ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${declared}`,
    '',
    '',
  ].join('\r\n')
  socket.write(head)
  const chunk = Buffer.alloc(sendBytes, '[')
  socket.write(chunk, () => {
    sent = chunk.length
  })
  return { answer: () => answer, closed: () => closed, sent: () => sent, destroy: () => socket.destroy() }
}

describe('upload routes take only the video and octet types, refused before the body is read', () => {
  let t: TestGateway
  let unit: MqttClient
  let cam: { id: string; secret: string }
  let fixtures: { dir: string; cleanup: () => void }

  beforeAll(async () => {
    fixtures = tempDir('doorstep-ctype-')
    t = await startTestGateway()
    cam = await t.gateway.registry.create(deviceRow({ id: 'cam-ctype-1' }))
    unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
  })
  afterAll(async () => {
    if (unit) await end(unit)
    await t?.stop()
    fixtures?.cleanup()
  })

  it('answers 415 to a 200 MB JSON or text body after its first 64 KB, and closes the connection', async () => {
    const clip = makeClip(fixtures.dir, 'ctype')
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    const pullId = randomUUID()
    const declared = 200 * 1024 * 1024
    const cases = [
      { path: `/api/v1/clips/${eventId}`, type: 'application/json' },
      { path: `/api/v1/clips/${eventId}`, type: 'text/plain; charset=utf-8' },
      // The type is checked before the pull is looked up, so any id shows it.
      { path: `/api/v1/pulls/${pullId}/upload`, type: 'application/json' },
    ]
    for (const c of cases) {
      const x = startPut(
        t.gateway.httpUrl,
        c.path,
        { Authorization: basic(cam.id, cam.secret), 'Content-Type': c.type },
        declared,
        64 * 1024,
      )
      try {
        // Before this change the JSON parser waited for all 200 MB: no answer came while we held the rest back.
        await until(`an answer to ${c.type} on ${c.path}`, () => x.answer().includes('\r\n\r\n'), 5000)
        expect(x.answer()).toMatch(/^HTTP\/1\.1 415 /)
        expect(x.answer().toLowerCase()).toContain('connection: close')
        expect(x.answer()).toContain('DOORSTEP_ERR_UNSUPPORTED_MEDIA')
        // The gateway hangs up rather than reading (and discarding) the other 199.9 MB.
        await until('the gateway to close the socket', () => x.closed(), 5000)
      } finally {
        x.destroy()
      }
    }
    // The event's upload is untouched: nothing was written for it.
    expect(t.gateway.events.index.get(eventId)?.clip.state).toBe('pending')
  })

  it('still takes video/mp4 and application/octet-stream, and an empty finish request without a type', async () => {
    const clip = makeClip(fixtures.dir, 'ctype-ok')
    const auth = basic(cam.id, cam.secret)
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    const half = Math.floor(clip.bytes / 2)
    const first = await putClip(t.gateway.httpUrl, eventId, auth, clip.buf.subarray(0, half), {
      'content-type': 'application/octet-stream',
      'content-range': `bytes 0-${half - 1}/${clip.bytes}`,
    })
    expect(first.status).toBe(202)
    const rest = await putClip(t.gateway.httpUrl, eventId, auth, clip.buf.subarray(half), {
      'content-type': 'video/mp4',
      'content-range': `bytes ${half}-${clip.bytes - 1}/${clip.bytes}`,
    })
    expect(rest.status).toBe(201)
    // A complete one that only needs finishing: no body, so no type is needed.
    const finish = await fetch(`${t.gateway.httpUrl}/api/v1/clips/${eventId}`, {
      method: 'PUT',
      headers: { authorization: auth, 'content-range': `bytes */${clip.bytes}` },
    })
    expect(finish.status).toBe(200)
  })

  it('refuses a small JSON body with the typed error, and a body sent without any type', async () => {
    const eventId = await announce(unit, cam.id, clipInfo({ bytes: 10, sha256: 'a'.repeat(64) }))
    const json = await fetch(`${t.gateway.httpUrl}/api/v1/clips/${eventId}`, {
      method: 'PUT',
      headers: { authorization: basic(cam.id, cam.secret), 'content-type': 'application/json' },
      body: '{"a":1}',
    })
    expect(json.status).toBe(415)
    expect(((await json.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_UNSUPPORTED_MEDIA')
    const untyped = startPut(
      t.gateway.httpUrl,
      `/api/v1/clips/${eventId}`,
      { Authorization: basic(cam.id, cam.secret) },
      10,
      10,
    )
    try {
      await until('an answer to a body without a type', () => untyped.answer().includes('\r\n\r\n'), 5000)
      expect(untyped.answer()).toMatch(/^HTTP\/1\.1 415 /)
    } finally {
      untyped.destroy()
    }
  })
})
