// test:postgres: every gateway here is on its own PostgreSQL
import fs from 'node:fs'
import http from 'node:http'
import { type EventView, type Hold, topicFor } from '@doorstep/proto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, clipInfo, makeClip, putClip, uploadOffset } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { capturingLogger } from '../helpers/log.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

const DAY = 86_400_000
/** The clips feature's sweep lock (clips/clips.ts): held here, it is another gateway sweeping. */
const CLIP_SWEEP_LOCK = 7_310_582_211

/**
 * Two gateways on one PostgreSQL and one shared clip directory, as behind a load balancer: a unit's
 * MQTT connection and its clip uploads may reach different gateways, and each gateway serves, holds
 * and sweeps every clip of the cluster.
 */
describe('clips through any gateway of a cluster', () => {
  let server: TestPostgres
  let url: string
  let a: TestGateway
  let b: TestGateway
  const shared = tempDir('doorstep-clips-shared-')
  const fixtures = tempDir('doorstep-clips-fx-')

  beforeAll(async () => {
    server = await startTestPostgres()
    url = await server.database()
    const env = { DOORSTEP_DATABASE_URL: url, DOORSTEP_SHARED_DIR: shared.dir }
    a = await startTestGateway({ ...env, DOORSTEP_NODE_ID: 'clips-a' })
    b = await startTestGateway({ ...env, DOORSTEP_NODE_ID: 'clips-b' })
  }, 90_000)
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    await server?.stop()
    shared.cleanup()
    fixtures.cleanup()
  })

  const detail = async (g: TestGateway, id: string) => {
    const res = await fetch(`${g.gateway.httpUrl}/api/v1/events/${id}`, { headers: bearer(g.adminToken) })
    expect(res.status).toBe(200)
    return (await res.json()) as EventView & { media: { sha256: string } | null; holds: Hold[] }
  }

  it('uploads half through one gateway and the rest through the other; both serve it, hold it and sweep it', async () => {
    const cam = await a.gateway.registry.create(deviceRow({ id: 'cam-clips-shared', district: 9 }))
    await until('b knows the unit', () => b.gateway.registry.get(cam.id) !== undefined)
    const auth = basic(cam.id, cam.secret)
    const unit = await connectUnit(a.gateway.mqttUrl, cam.id, cam.secret)
    try {
      const clip = makeClip(fixtures.dir, 'shared-1')
      const eventId = await announce(unit, cam.id, clipInfo(clip))
      // The PUT reaches b right after a acknowledged the event, before a's shipper ran: b waits for it.
      const half = Math.floor(clip.bytes / 2)
      const first = await putClip(b.gateway.httpUrl, eventId, auth, clip.buf.subarray(0, half), {
        'content-range': `bytes 0-${half - 1}/${clip.bytes}`,
      })
      expect(first.status, await first.clone().text()).toBe(202)
      expect((await detail(a, eventId)).clip.state).toBe('uploading')
      // The partial is in the directory both mount: the rest goes through a.
      const head = await fetch(`${a.gateway.httpUrl}/api/v1/clips/${eventId}`, {
        method: 'HEAD',
        headers: { authorization: auth },
      })
      expect(head.headers.get('upload-offset')).toBe(String(half))
      const rest = await putClip(a.gateway.httpUrl, eventId, auth, clip.buf.subarray(half), {
        'content-range': `bytes ${half}-${clip.bytes - 1}/${clip.bytes}`,
      })
      expect(rest.status, await rest.clone().text()).toBe(201)
      for (const g of [a, b]) {
        const d = await detail(g, eventId)
        expect(d.clip.state).toBe('ready')
        expect(d.media?.sha256).toBe(clip.sha256)
        const got = await fetch(`${g.gateway.httpUrl}/api/v1/clips/${eventId}`, {
          headers: bearer(g.adminToken),
        })
        expect(got.status).toBe(200)
        expect(Buffer.from(await got.arrayBuffer()).equals(clip.buf)).toBe(true)
      }

      // A later message of the event, shipped by a from its own index (where the clip is only
      // announced), does not take the shared state back to `pending`.
      await publish(unit, topicFor('event', cam.id), {
        v: 1,
        eventId,
        ts: Date.now(),
        phase: 'update',
        kind: 'person',
        score: 0.95,
      })
      await until('the update is shipped', async () => (await detail(b, eventId)).score === 0.95)
      expect((await detail(b, eventId)).clip.state).toBe('ready')

      // Held through b, listed by a.
      const placed = await fetch(`${b.gateway.httpUrl}/api/v1/holds`, {
        method: 'POST',
        headers: { ...bearer(b.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ eventId, reason: 'case SH-1' }),
      })
      expect(placed.status).toBe(201)
      expect((await detail(a, eventId)).holds.map((h) => h.reason)).toEqual(['case SH-1'])

      // A second clip, all through a and never held.
      const other = makeClip(fixtures.dir, 'shared-2')
      const otherId = await announce(unit, cam.id, clipInfo(other))
      expect((await putClip(a.gateway.httpUrl, otherId, auth, other.buf)).status).toBe(201)
      await a.gateway.clips.idle()

      // One gateway sweeps the cluster's clips at a time: while another holds the turn, b skips.
      const holder = new pg.Client({ connectionString: url })
      await holder.connect()
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [CLIP_SWEEP_LOCK])
        const skipped = await b.gateway.clips.sweep({ now: Date.now() + 31 * DAY, disk: null })
        expect(skipped).toMatchObject({ skipped: true, expired: [] })
        expect((await detail(a, otherId)).clip.state).toBe('ready')
      } finally {
        await holder.end()
      }
      const swept = await b.gateway.clips.sweep({ now: Date.now() + 31 * DAY, disk: null })
      expect(swept.skipped).toBeUndefined()
      expect(swept.expired).toEqual([otherId])
      expect(swept.keptByHold).toBe(1)
      // b swept a clip a stored: the file in the shared directory is gone, and a says so.
      expect(fs.existsSync(a.gateway.clips.store.clipPath(other.sha256))).toBe(false)
      expect((await detail(a, otherId)).clip.state).toBe('expired')
      expect((await detail(a, eventId)).clip.state).toBe('ready')
      expect(fs.existsSync(b.gateway.clips.store.clipPath(clip.sha256))).toBe(true)
    } finally {
      await end(unit)
    }
  })

  it('takes two PUTs of one clip through two gateways in turn: the second waits while the first takes bytes', async () => {
    const cam = await a.gateway.registry.create(deviceRow({ id: 'cam-clips-turns', district: 9 }))
    await until('b knows the unit', () => b.gateway.registry.get(cam.id) !== undefined)
    const auth = basic(cam.id, cam.secret)
    const unit = await connectUnit(a.gateway.mqttUrl, cam.id, cam.secret)
    const clip = makeClip(fixtures.dir, 'turns-1')
    let stalled: http.ClientRequest | null = null
    try {
      const eventId = await announce(unit, cam.id, clipInfo(clip))
      // Through a: a third of the clip, then the unit's link stalls (the request stays open, no bytes).
      const third = Math.floor(clip.bytes / 3)
      const target = new URL(`${a.gateway.httpUrl}/api/v1/clips/${eventId}`)
      const first = http.request({
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'PUT',
        headers: { authorization: auth, 'content-type': 'video/mp4', 'content-length': clip.bytes },
      })
      stalled = first
      const firstEnded = new Promise<number | null>((resolve) => {
        first.on('response', (res) => resolve(res.statusCode ?? null))
        first.on('error', () => resolve(null))
      })
      first.write(clip.buf.subarray(0, third))
      await until(
        'a took the first bytes',
        async () => (await uploadOffset(b.gateway.httpUrl, eventId, auth)) === third,
      )

      // The unit comes back through b while a's PUT still holds the upload: b says when to try again.
      const busy = await putClip(b.gateway.httpUrl, eventId, auth, clip.buf.subarray(third), {
        'content-range': `bytes ${third}-${clip.bytes - 1}/${clip.bytes}`,
      })
      expect(busy.status, await busy.clone().text()).toBe(409)
      expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('DOORSTEP_ERR_UPLOAD_BUSY')
      const retryAfter = Number(busy.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(10)
      // Nothing b refused reached the partial.
      expect(await uploadOffset(b.gateway.httpUrl, eventId, auth)).toBe(third)

      // The unit tries again when told: once a's PUT has taken no bytes for ten seconds its hold has
      // lapsed, and the rest goes through b.
      let rest = busy
      for (let i = 0; i < 4 && rest.status === 409; i++) {
        await new Promise((r) => setTimeout(r, Number(rest.headers.get('retry-after') ?? 1) * 1000))
        rest = await putClip(b.gateway.httpUrl, eventId, auth, clip.buf.subarray(third), {
          'content-range': `bytes ${third}-${clip.bytes - 1}/${clip.bytes}`,
        })
      }
      expect(rest.status, await rest.clone().text()).toBe(201)

      // a's PUT wakes up with more bytes (not the clip's: written anywhere, they would show): its hold was
      // taken over, so it ends without writing them.
      first.write(Buffer.alloc(1024, 0x55))
      const status = await firstEnded
      expect(status === null || status >= 400).toBe(true)
      for (const g of [a, b]) {
        const d = await detail(g, eventId)
        expect(d.clip.state).toBe('ready')
        expect(d.media?.sha256).toBe(clip.sha256)
      }
      const got = await fetch(`${a.gateway.httpUrl}/api/v1/clips/${eventId}`, {
        headers: bearer(a.adminToken),
      })
      expect(Buffer.from(await got.arrayBuffer()).equals(clip.buf)).toBe(true)
    } finally {
      stalled?.destroy()
      await end(unit)
    }
  }, 60_000)

  it('finishes a commit left by a gateway that never came back, once it is long past due', async () => {
    const cam = await a.gateway.registry.create(deviceRow({ id: 'cam-clips-gone', district: 9 }))
    const unit = await connectUnit(a.gateway.mqttUrl, cam.id, cam.secret)
    try {
      const clip = makeClip(fixtures.dir, 'shared-gone')
      const eventId = await announce(unit, cam.id, clipInfo(clip))
      await until(
        'the event is shared',
        async () => (await b.gateway.events.clipEvents.get(eventId)) !== undefined,
      )
      // What a third gateway left when it died between recording the commit and the rename: the whole
      // verified partial in the shared directory, the row `committing` under its name.
      fs.writeFileSync(a.gateway.clips.store.partialPath(eventId), clip.buf)
      const db = new pg.Client({ connectionString: url })
      await db.connect()
      try {
        await db.query(
          `INSERT INTO clips (event_id, device_id, sha256, bytes, mime, container, codec, width, height,
             duration_ms, recorded_at, stored_at, state, node)
           VALUES ($1, $2, $3, $4, 'video/mp4', 'mov,mp4', 'h264', 320, 240, 2000, $5, $5, 'committing', 'clips-gone')`,
          [eventId, cam.id, clip.sha256, clip.bytes, Date.now()],
        )
        await db.query(`UPDATE events SET clip_state = 'uploading' WHERE event_id = $1`, [eventId])
      } finally {
        await db.end()
      }
      // Still young: it may be a commit under way on a live gateway.
      await b.gateway.clips.sweep({ disk: null })
      expect((await detail(a, eventId)).clip.state).toBe('uploading')
      expect(fs.existsSync(b.gateway.clips.store.clipPath(clip.sha256))).toBe(false)
      // Past due: whichever gateway sweeps finishes it.
      await b.gateway.clips.sweep({ now: Date.now() + 11 * 60_000, disk: null })
      expect((await detail(a, eventId)).clip.state).toBe('ready')
      expect(fs.existsSync(b.gateway.clips.store.clipPath(clip.sha256))).toBe(true)
      expect(fs.existsSync(b.gateway.clips.store.partialPath(eventId))).toBe(false)
    } finally {
      await end(unit)
    }
  })

  it('warns a gateway on the shared clips table that keeps clip files in its own data dir', async () => {
    const quiet = capturingLogger()
    const alone = capturingLogger()
    const withDir = await startTestGateway(
      { DOORSTEP_DATABASE_URL: url, DOORSTEP_SHARED_DIR: shared.dir, DOORSTEP_NODE_ID: 'clips-c' },
      { log: quiet.log },
    )
    const without = await startTestGateway(
      { DOORSTEP_DATABASE_URL: url, DOORSTEP_NODE_ID: 'clips-d' },
      { log: alone.log },
    )
    try {
      expect(alone.text()).toContain('give every gateway the same DOORSTEP_SHARED_DIR')
      expect(quiet.text()).not.toContain('DOORSTEP_SHARED_DIR')
    } finally {
      await without.stop()
      await withDir.stop()
    }
  })

  it('a restarting gateway leaves alone an upload the other one has in hand', async () => {
    const cam = await a.gateway.registry.create(deviceRow({ id: 'cam-clips-restart', district: 9 }))
    await until('b knows the unit', () => b.gateway.registry.get(cam.id) !== undefined)
    const auth = basic(cam.id, cam.secret)
    const unit = await connectUnit(b.gateway.mqttUrl, cam.id, cam.secret)
    try {
      const clip = makeClip(fixtures.dir, 'shared-3')
      const eventId = await announce(unit, cam.id, clipInfo(clip))
      const half = Math.floor(clip.bytes / 2)
      const first = await putClip(b.gateway.httpUrl, eventId, auth, clip.buf.subarray(0, half), {
        'content-range': `bytes 0-${half - 1}/${clip.bytes}`,
      })
      expect(first.status).toBe(202)
      // a restarts: b's partial is b's to keep, not an orphan of a's.
      const dataDir = a.dataDir
      await a.stop({ keepData: true })
      a = await startTestGateway({
        DOORSTEP_DATABASE_URL: url,
        DOORSTEP_SHARED_DIR: shared.dir,
        DOORSTEP_NODE_ID: 'clips-a',
        DOORSTEP_DATA_DIR: dataDir,
      })
      expect(fs.existsSync(a.gateway.clips.store.partialPath(eventId))).toBe(true)
      expect((await detail(a, eventId)).clip.state).toBe('uploading')
      const rest = await putClip(b.gateway.httpUrl, eventId, auth, clip.buf.subarray(half), {
        'content-range': `bytes ${half}-${clip.bytes - 1}/${clip.bytes}`,
      })
      expect(rest.status).toBe(201)
      expect((await detail(a, eventId)).clip.state).toBe('ready')
    } finally {
      await end(unit)
    }
  })
})
