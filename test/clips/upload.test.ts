import { createHash, randomBytes, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { ClipUploadResult, ErrorBody, EventDetail } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { announce, type ClipFile, clipInfo, makeClip, putClip, uploadOffset } from './helpers.js'

describe('clip upload, integrity and serving (real gateway, real ffmpeg clips)', () => {
  let t: TestGateway
  let fixtures: { dir: string; cleanup: () => void }
  let clip: ClipFile
  let unit: MqttClient
  let other: MqttClient
  let cam: { id: string; secret: string }
  let cam2: { id: string; secret: string }
  let base: string
  let auth: string

  beforeAll(async () => {
    fixtures = tempDir('doorstep-clips-')
    clip = makeClip(fixtures.dir, 'front-door')
    t = await startTestGateway()
    base = t.gateway.httpUrl
    cam = await t.gateway.registry.create(deviceRow({ id: 'cam-up-1' }))
    cam2 = await t.gateway.registry.create(deviceRow({ id: 'cam-up-2' }))
    auth = basic(cam.id, cam.secret)
    unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    other = await connectUnit(t.gateway.mqttUrl, cam2.id, cam2.secret)
  })
  afterAll(async () => {
    if (unit) await end(unit)
    if (other) await end(other)
    await t?.stop()
    fixtures?.cleanup()
  })

  // As the clips feature records it: the gateway's own index, or with PostgreSQL the shared table.
  const eventState = async (id: string) => (await t.gateway.events.clipEvents.get(id))?.clip.state

  it('stores an announced clip: verified, probed, content-addressed, with media facts in the event detail', async () => {
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    expect(await eventState(eventId)).toBe('pending')
    expect(await uploadOffset(base, eventId, auth)).toBe(0)

    const res = await putClip(base, eventId, auth, clip.buf)
    expect(res.status).toBe(201)
    const body = (await res.json()) as ClipUploadResult
    expect(body).toMatchObject({ eventId, state: 'stored', received: clip.bytes, total: clip.bytes })
    expect(body.media).toMatchObject({
      codec: 'h264',
      width: 320,
      height: 240,
      mime: 'video/mp4',
      sha256: clip.sha256,
    })
    expect(body.media?.durationMs).toBeGreaterThanOrEqual(1900)
    expect(await eventState(eventId)).toBe('ready')

    const stored = t.gateway.clips.store.clipPath(clip.sha256)
    expect(stored).toContain(`/clips/${clip.sha256.slice(0, 2)}/${clip.sha256.slice(2, 4)}/${clip.sha256}`)
    expect(fs.readFileSync(stored).equals(clip.buf)).toBe(true)
    expect(fs.existsSync(t.gateway.clips.store.partialPath(eventId))).toBe(false)

    // A retry after a lost answer is harmless.
    const again = await putClip(base, eventId, auth, clip.buf)
    expect(again.status).toBe(200)

    const detail = (await (
      await fetch(`${base}/api/v1/events/${eventId}`, { headers: bearer(t.adminToken) })
    ).json()) as EventDetail
    expect(detail.clip).toMatchObject({
      state: 'ready',
      url: `/api/v1/clips/${eventId}`,
      thumbUrl: `/api/v1/clips/${eventId}/thumb`,
    })
    expect(detail.media).toMatchObject({ width: 320, height: 240, codec: 'h264' })
  })

  it('refuses a body whose sha256 differs from the announced one (422) and removes the partial', async () => {
    const wrong = randomBytes(clip.bytes)
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    const res = await putClip(base, eventId, auth, wrong)
    expect(res.status).toBe(422)
    const body = (await res.json()) as ErrorBody
    expect(body.error.code).toBe('DOORSTEP_ERR_CLIP_HASH_MISMATCH')
    expect(body.error.details).toEqual({
      expected: clip.sha256,
      actual: createHash('sha256').update(wrong).digest('hex'),
    })
    expect(fs.existsSync(t.gateway.clips.store.partialPath(eventId))).toBe(false)
    expect(await uploadOffset(base, eventId, auth)).toBe(0)
    expect(await eventState(eventId)).toBe('pending')
  })

  it("refuses another unit's upload (403) and a missing or wrong secret (401 with a Basic challenge)", async () => {
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    const foreign = await putClip(base, eventId, basic(cam2.id, cam2.secret), clip.buf)
    expect(foreign.status).toBe(403)
    expect(((await foreign.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_FORBIDDEN')

    const wrongSecret = await putClip(base, eventId, basic(cam.id, 'not-the-secret'), clip.buf)
    expect(wrongSecret.status).toBe(401)
    expect(wrongSecret.headers.get('www-authenticate')).toMatch(/^Basic realm=/)
    expect(((await wrongSecret.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_DEVICE_UNAUTHENTICATED')

    const none = await fetch(`${base}/api/v1/clips/${eventId}`, {
      method: 'PUT',
      body: new Uint8Array(clip.buf),
      headers: { 'content-type': 'video/mp4' },
    })
    expect(none.status).toBe(401)
    // A person's admin token is not a unit's credential.
    const person = await putClip(base, eventId, `Bearer ${t.adminToken}`, clip.buf)
    expect(person.status).toBe(401)
    expect(await eventState(eventId)).toBe('pending')
  })

  it('refuses a file that is not a video (422) and keeps it out', async () => {
    const junk = Buffer.from('this is a text file pretending to be a clip\n'.repeat(500))
    const sha256 = createHash('sha256').update(junk).digest('hex')
    const eventId = await announce(unit, cam.id, {
      bytes: junk.length,
      sha256,
      durationMs: 2000,
      codec: 'h264',
    })
    const res = await putClip(base, eventId, auth, junk)
    expect(res.status).toBe(422)
    const body = (await res.json()) as ErrorBody
    expect(body.error.code).toBe('DOORSTEP_ERR_CLIP_NOT_VIDEO')
    expect(body.error.message).toMatch(/not a readable video/)
    expect(await eventState(eventId)).toBe('rejected')
    expect(fs.existsSync(t.gateway.clips.store.partialPath(eventId))).toBe(false)
    expect(fs.existsSync(t.gateway.clips.store.clipPath(sha256))).toBe(false)
  })

  it('refuses uploads to events without a clip, unknown events, and bodies longer than announced', async () => {
    const noClip = await announce(unit, cam.id, undefined)
    const r1 = await putClip(base, noClip, auth, clip.buf)
    expect(r1.status).toBe(409)
    expect(((await r1.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_CLIP_NOT_ANNOUNCED')

    const r2 = await putClip(base, randomUUID(), auth, clip.buf)
    expect(r2.status).toBe(404)

    const eventId = await announce(unit, cam.id, clipInfo(clip))
    const r3 = await putClip(base, eventId, auth, Buffer.concat([clip.buf, Buffer.from('tail')]))
    expect(r3.status).toBe(400) // Content-Length does not match the announced size
    const r4 = await putClip(base, eventId, auth, clip.buf.subarray(0, 100), {
      'content-range': `bytes 0-99/${clip.bytes + 1}`,
    })
    expect(r4.status).toBe(400)
    expect(((await r4.json()) as ErrorBody).error.message).toMatch(/differs from the/)

    // Announced bigger than DOORSTEP_CLIP_MAX_BYTES (512 MiB by default): refused before any byte is read.
    const huge = await announce(unit, cam.id, { ...clipInfo(clip), bytes: 600 * 1024 * 1024 })
    const r5 = await putClip(base, huge, auth, clip.buf)
    expect(r5.status).toBe(413)
    expect(((await r5.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_PAYLOAD_TOO_LARGE')
  })

  it('an interrupted ~20 MB upload resumes from what arrived (HEAD, then Content-Range), without resending it', async () => {
    const big = makeClip(fixtures.dir, 'big', { big: true, seconds: 2 })
    expect(big.bytes).toBeGreaterThan(15 * 1024 * 1024)
    const eventId = await announce(unit, cam.id, clipInfo(big))

    // The uplink drops after about 60% of the file: the socket dies mid-body.
    const cut = Math.floor(big.bytes * 0.6)
    await new Promise<void>((resolve) => {
      const url = new URL(`${base}/api/v1/clips/${eventId}`)
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'PUT',
        headers: {
          authorization: auth,
          'content-type': 'application/octet-stream',
          'content-length': big.bytes,
        },
      })
      req.on('error', () => resolve())
      req.on('response', () => resolve())
      req.write(big.buf.subarray(0, cut), () => setTimeout(() => req.destroy(), 200))
    })

    // What the gateway kept is what HEAD reports; wait until the old request has let go of it.
    let received = -1
    await expect
      .poll(
        async () => {
          const now = await uploadOffset(base, eventId, auth)
          const stable = now === received
          received = now
          return stable && now > 0
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(true)
    expect(received).toBeGreaterThan(1024 * 1024)
    expect(received).toBeLessThanOrEqual(cut)
    expect(await eventState(eventId)).toBe('uploading')
    const onDisk = fs.readFileSync(t.gateway.clips.store.partialPath(eventId))
    expect(onDisk.equals(big.buf.subarray(0, received))).toBe(true)

    // A gap is refused with the offset to continue from.
    const gap = await putClip(base, eventId, auth, big.buf.subarray(received + 10), {
      'content-range': `bytes ${received + 10}-${big.bytes - 1}/${big.bytes}`,
    })
    expect(gap.status).toBe(409)
    expect(gap.headers.get('upload-offset')).toBe(String(received))
    expect(((await gap.json()) as ErrorBody).error).toMatchObject({
      code: 'DOORSTEP_ERR_UPLOAD_OFFSET',
      details: { received },
    })

    const rest = big.buf.subarray(received)
    const res = await putClip(base, eventId, auth, rest, {
      'content-range': `bytes ${received}-${big.bytes - 1}/${big.bytes}`,
    })
    expect(res.status).toBe(201)
    expect(((await res.json()) as ClipUploadResult).media).toMatchObject({
      width: 640,
      height: 480,
      codec: 'h264',
    })
    expect(await eventState(eventId)).toBe('ready')
    expect(
      createHash('sha256')
        .update(fs.readFileSync(t.gateway.clips.store.clipPath(big.sha256)))
        .digest('hex'),
    ).toBe(big.sha256)
  }, 60_000)

  it('takes an upload in explicit parts (202 until the last byte)', async () => {
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    const half = Math.floor(clip.bytes / 2)
    const first = await putClip(base, eventId, auth, clip.buf.subarray(0, half), {
      'content-range': `bytes 0-${half - 1}/${clip.bytes}`,
    })
    expect(first.status).toBe(202)
    expect(first.headers.get('upload-offset')).toBe(String(half))
    expect(await first.json()).toMatchObject({ state: 'partial', received: half, total: clip.bytes })
    // Re-sending an overlap is fine: the bytes past the new start are cut off and written again.
    const second = await putClip(base, eventId, auth, clip.buf.subarray(half - 100), {
      'content-range': `bytes ${half - 100}-${clip.bytes - 1}/${clip.bytes}`,
    })
    expect(second.status).toBe(201)
  })

  describe('serving', () => {
    let eventId: string
    beforeAll(async () => {
      eventId = await announce(other, cam2.id, clipInfo(clip))
      const res = await putClip(base, eventId, basic(cam2.id, cam2.secret), clip.buf)
      expect(res.status).toBeLessThan(300)
      await t.gateway.clips.idle()
    })

    it('answers Range requests with 206 and the exact bytes, video/mp4, and 416 outside the file', async () => {
      const url = `${base}/api/v1/clips/${eventId}`
      const whole = await fetch(url, { headers: bearer(t.adminToken) })
      expect(whole.status).toBe(200)
      expect(whole.headers.get('content-type')).toBe('video/mp4')
      expect(whole.headers.get('accept-ranges')).toBe('bytes')
      expect(Buffer.from(await whole.arrayBuffer()).equals(clip.buf)).toBe(true)

      const mid = await fetch(url, { headers: { ...bearer(t.adminToken), range: 'bytes=100-1123' } })
      expect(mid.status).toBe(206)
      expect(mid.headers.get('content-range')).toBe(`bytes 100-1123/${clip.bytes}`)
      expect(mid.headers.get('content-length')).toBe('1024')
      expect(mid.headers.get('content-type')).toBe('video/mp4')
      expect(Buffer.from(await mid.arrayBuffer()).equals(clip.buf.subarray(100, 1124))).toBe(true)

      const open = await fetch(url, {
        headers: { ...bearer(t.adminToken), range: `bytes=${clip.bytes - 10}-` },
      })
      expect(open.status).toBe(206)
      expect(Buffer.from(await open.arrayBuffer()).equals(clip.buf.subarray(clip.bytes - 10))).toBe(true)

      const suffix = await fetch(url, { headers: { ...bearer(t.adminToken), range: 'bytes=-500' } })
      expect(suffix.status).toBe(206)
      expect(Buffer.from(await suffix.arrayBuffer()).equals(clip.buf.subarray(clip.bytes - 500))).toBe(true)

      const outside = await fetch(url, {
        headers: { ...bearer(t.adminToken), range: `bytes=${clip.bytes}-` },
      })
      expect(outside.status).toBe(416)
      expect(outside.headers.get('content-range')).toBe(`bytes */${clip.bytes}`)
      expect(((await outside.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_RANGE_NOT_SATISFIABLE')
    })

    it('takes ?token= for what <video> and <img> fetch, and only there', async () => {
      const url = `${base}/api/v1/clips/${eventId}`
      expect((await fetch(url)).status).toBe(401)
      const viaQuery = await fetch(`${url}?token=${t.adminToken}`, { headers: { range: 'bytes=0-9' } })
      expect(viaQuery.status).toBe(206)
      await viaQuery.arrayBuffer()
      expect((await fetch(`${url}/thumb?token=${t.adminToken}`)).status).toBe(200)
      // Routes that did not opt in ignore the query token.
      expect((await fetch(`${base}/api/v1/events?token=${t.adminToken}`)).status).toBe(401)
      // A unit's own credentials do not open the people's routes.
      expect((await fetch(url, { headers: { authorization: basic(cam2.id, cam2.secret) } })).status).toBe(401)
    })

    it('serves a 320 px WebP thumbnail with an ETag, and 304 when it has not changed', async () => {
      const url = `${base}/api/v1/clips/${eventId}/thumb`
      const res = await fetch(url, { headers: bearer(t.adminToken) })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('image/webp')
      const etag = res.headers.get('etag')
      expect(etag).toMatch(/^"[0-9a-f]{32}"$/)
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata()
      expect(meta).toMatchObject({ format: 'webp', width: 320, height: 240 })

      const again = await fetch(url, {
        headers: { ...bearer(t.adminToken), 'if-none-match': etag as string },
      })
      expect(again.status).toBe(304)
      expect((await again.arrayBuffer()).byteLength).toBe(0)
      const changed = await fetch(url, {
        headers: { ...bearer(t.adminToken), 'if-none-match': '"something-else"' },
      })
      expect(changed.status).toBe(200)
      await changed.arrayBuffer()
    })
  })
})
