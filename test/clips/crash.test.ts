import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { sharedDbFromEnv } from '../../gateway/src/db/index.js'
import { openDb } from '../../gateway/src/db/sqlite.js'
import { deviceRow } from '../helpers/devices.js'
import { hostEnv, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { announce, clipInfo, makeClip, putClip, uploadOffset } from './helpers.js'

describe('stopping the gateway with an upload in flight', () => {
  const data = tempDir('doorstep-stop-')
  const fixtures = tempDir('doorstep-stop-fx-')
  let t: TestGateway | null = null
  afterAll(async () => {
    await t?.stop()
    data.cleanup()
    fixtures.cleanup()
  })

  it('ends the upload instead of waiting for it, and the unit resumes after the restart', async () => {
    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    const cam = await t.gateway.registry.create(deviceRow({ id: 'cam-stop' }))
    const auth = basic(cam.id, cam.secret)
    const unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    const clip = makeClip(fixtures.dir, 'stop')
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    await end(unit)

    // A slow uplink: 4000 bytes sent, the rest never comes, the socket stays open.
    const url = new URL(`${t.gateway.httpUrl}/api/v1/clips/${eventId}`)
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'PUT',
      headers: { authorization: auth, 'content-type': 'video/mp4', 'content-length': clip.bytes },
    })
    const closed = new Promise<void>((resolve) => {
      req.on('error', () => resolve())
      req.on('close', () => resolve())
    })
    req.write(clip.buf.subarray(0, 4000))
    const base = t.gateway.httpUrl
    await expect.poll(() => uploadOffset(base, eventId, auth), { timeout: 5000 }).toBe(4000)

    const started = Date.now()
    await t.stop({ keepData: true })
    t = null
    expect(Date.now() - started).toBeLessThan(5000)
    await closed

    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    expect(await uploadOffset(t.gateway.httpUrl, eventId, auth)).toBe(4000)
    const rest = await putClip(t.gateway.httpUrl, eventId, auth, clip.buf.subarray(4000), {
      'content-range': `bytes 4000-${clip.bytes - 1}/${clip.bytes}`,
    })
    expect(rest.status).toBe(201)
  })

  it('stopping once the last byte is in, while the clip is verified, does not hold the server open', async () => {
    t ??= await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    const gw = t
    const cam = await gw.gateway.registry.create(deviceRow({ id: 'cam-stop-2' }))
    const auth = basic(cam.id, cam.secret)
    const unit = await connectUnit(gw.gateway.mqttUrl, cam.id, cam.secret)
    const clip = makeClip(fixtures.dir, 'stop-2')
    const eventId = await announce(unit, cam.id, clipInfo(clip))
    await end(unit)
    // Stop once the body is all in, while the gateway hashes and probes it: ending that request
    // must end its keep-alive connection too, or it holds the server open for Fastify's 72 s.
    let stopping: Promise<void> | null = null
    gw.gateway.http.server.on('request', (req) => {
      if (req.method === 'PUT') req.on('end', () => (stopping ??= gw.stop({ keepData: true })))
    })
    const put = putClip(gw.gateway.httpUrl, eventId, auth, clip.buf).catch(() => null)
    await expect.poll(() => stopping !== null, { timeout: 5000 }).toBe(true)
    const started = Date.now()
    await stopping
    t = null
    expect(Date.now() - started).toBeLessThan(10_000)
    await put
  })
})

describe('a crash between temp file and rename leaves no half file in place', () => {
  const data = tempDir('doorstep-crash-')
  const fixtures = tempDir('doorstep-crash-fx-')
  let t: TestGateway | null = null
  afterAll(async () => {
    await t?.stop()
    data.cleanup()
    fixtures.cleanup()
  })

  it('on restart: stray temps removed, complete uploads verified and stored, half uploads kept for resuming', async () => {
    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    const cam = await t.gateway.registry.create(deviceRow({ id: 'cam-crash' }))
    const auth = basic(cam.id, cam.secret)
    const unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((n) => makeClip(fixtures.dir, `crash-${n}`)) as [
      ReturnType<typeof makeClip>,
      ReturnType<typeof makeClip>,
      ReturnType<typeof makeClip>,
      ReturnType<typeof makeClip>,
      ReturnType<typeof makeClip>,
    ]
    const evA = await announce(unit, cam.id, clipInfo(a))
    expect((await putClip(t.gateway.httpUrl, evA, auth, a.buf)).status).toBe(201)
    await t.gateway.clips.idle()
    const evB = await announce(unit, cam.id, clipInfo(b))
    const evC = await announce(unit, cam.id, clipInfo(c))
    const evD = await announce(unit, cam.id, clipInfo(d))
    await end(unit)
    const store = t.gateway.clips.store
    const env = hostEnv(t)
    await t.stop({ keepData: true })
    t = null

    // What a crash at various points leaves behind:
    // B: every byte written and fsynced, the process died before the rename.
    fs.writeFileSync(store.partialPath(evB), b.buf)
    // C: died mid-upload.
    const half = Math.floor(c.bytes / 2)
    fs.writeFileSync(store.partialPath(evC), c.buf.subarray(0, half))
    // D: the database recorded the commit (`committing`), the rename never happened.
    fs.writeFileSync(store.partialPath(evD), d.buf)
    // In the clips table wherever the gateway keeps it: its own file, or the shared PostgreSQL.
    const db = openDb(path.join(data.dir, 'doorstep.db'))
    const shared = await sharedDbFromEnv(env, db, 'crash-test')
    await sql`INSERT INTO clips (event_id, device_id, sha256, bytes, mime, container, codec, width, height, duration_ms,
         recorded_at, stored_at, state)
       VALUES (${evD}, ${cam.id}, ${d.sha256}, ${d.bytes}, 'video/mp4', 'mov,mp4', 'h264', 320, 240, 2000,
         ${Date.now()}, ${Date.now()}, 'committing')`.execute(shared.tables())
    await shared.close()
    db.close()
    // Half-written temp files of an atomic write, next to their final names.
    const thumbTemp = `${store.thumbPath(a.sha256)}.tmp-4242-deadbeef`
    fs.writeFileSync(thumbTemp, Buffer.alloc(100))
    const clipTemp = `${store.clipPath(e.sha256)}.tmp-4242-cafef00d`
    fs.mkdirSync(path.dirname(clipTemp), { recursive: true })
    fs.writeFileSync(clipTemp, e.buf.subarray(0, 500))
    // A partial nobody waits for.
    const orphan = store.partialPath(randomUUID())
    fs.writeFileSync(orphan, Buffer.alloc(10))

    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    await t.gateway.clips.idle()
    const index = t.gateway.events.clipEvents
    const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex')

    expect(fs.existsSync(thumbTemp)).toBe(false)
    expect(fs.existsSync(clipTemp)).toBe(false)
    expect(fs.existsSync(store.clipPath(e.sha256))).toBe(false)
    expect(fs.existsSync(orphan)).toBe(false)

    expect((await index.get(evB))?.clip.state).toBe('ready')
    expect(sha(store.clipPath(b.sha256))).toBe(b.sha256)
    expect(fs.existsSync(store.partialPath(evB))).toBe(false)

    expect((await index.get(evD))?.clip.state).toBe('ready')
    expect(sha(store.clipPath(d.sha256))).toBe(d.sha256)

    expect(fs.existsSync(store.clipPath(c.sha256))).toBe(false)
    expect(await uploadOffset(t.gateway.httpUrl, evC, auth)).toBe(half)
    const rest = await putClip(t.gateway.httpUrl, evC, auth, c.buf.subarray(half), {
      'content-range': `bytes ${half}-${c.bytes - 1}/${c.bytes}`,
    })
    expect(rest.status).toBe(201)

    expect((await index.get(evA))?.clip.state).toBe('ready')
    expect(sha(store.clipPath(a.sha256))).toBe(a.sha256)
    // The thumbnails the crash interrupted or never made are made again.
    await t.gateway.clips.idle()
    for (const x of [a, b, d]) expect(fs.existsSync(store.thumbPath(x.sha256))).toBe(true)
  })
})
