// test:postgres: every gateway here is on its own PostgreSQL
import fs from 'node:fs'
import type { Hold } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runClipsCli } from '../../gateway/src/clips/index.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { announce, clipInfo, makeClip, putClip } from './helpers.js'

const DAY = 86_400_000

/** `doorstep clips copy`, as an operator runs it, its output gathered. */
async function copy(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runClipsCli(['copy', ...args], {}, { out: (s) => (out += s), err: (s) => (err += s) })
  return { code, out, err }
}

/**
 * A gateway that ran alone, on SQLite, joins a cluster: its clips, the record of deleted ones and its
 * holds go into the cluster's PostgreSQL and shared directory, and the cluster serves them.
 */
describe('doorstep clips copy', () => {
  let server: TestPostgres
  const data = tempDir('doorstep-clips-copy-')
  const shared = tempDir('doorstep-clips-copy-shared-')
  const fixtures = tempDir('doorstep-clips-copy-fx-')
  let alone: TestGateway | null = null
  let joined: TestGateway | null = null
  const ids: { kept: string; gone: string; broken: string; deviceId: string; keptSha: string } = {
    kept: '',
    gone: '',
    broken: '',
    deviceId: 'cam-copy',
    keptSha: '',
  }

  beforeAll(async () => {
    server = await startTestPostgres()
    alone = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir }, {}, { ownFile: true })
    const cam = await alone.gateway.registry.create(deviceRow({ id: ids.deviceId }))
    const unit = await connectUnit(alone.gateway.mqttUrl, cam.id, cam.secret)
    const auth = basic(cam.id, cam.secret)
    const base = alone.gateway.httpUrl
    try {
      const kept = makeClip(fixtures.dir, 'copy-kept')
      ids.kept = await announce(unit, cam.id, clipInfo(kept))
      ids.keptSha = kept.sha256
      expect((await putClip(base, ids.kept, auth, kept.buf)).status).toBe(201)
      const gone = makeClip(fixtures.dir, 'copy-gone')
      ids.gone = await announce(unit, cam.id, clipInfo(gone))
      expect((await putClip(base, ids.gone, auth, gone.buf)).status).toBe(201)
      const broken = makeClip(fixtures.dir, 'copy-broken')
      ids.broken = await announce(unit, cam.id, clipInfo(broken))
      expect((await putClip(base, ids.broken, auth, broken.buf)).status).toBe(201)
      await alone.gateway.clips.idle()
      await alone.gateway.clips.hold(ids.kept, 'case CP-1', 'investigator (investigator)')
      await alone.gateway.clips.hold(ids.broken, 'case CP-1', 'investigator (investigator)')
      // `gone` past retention: deleted, its row kept as the record.
      const swept = await alone.gateway.clips.sweep({ now: Date.now() + 31 * DAY, disk: null })
      expect(swept.expired).toEqual([ids.gone])
      // `broken`'s file changed on disk since it was stored.
      fs.appendFileSync(alone.gateway.clips.store.clipPath(broken.sha256), Buffer.from('tampered'))
    } finally {
      await end(unit)
    }
    await alone.stop({ keepData: true })
    alone = null
  }, 120_000)
  afterAll(async () => {
    await alone?.stop()
    await joined?.stop()
    await server?.stop()
    data.cleanup()
    shared.cleanup()
    fixtures.cleanup()
  })

  it('copies the files, rows and holds it can, names the clip it cannot, and the cluster serves them', async () => {
    const url = await server.database()
    const args = ['--to', url, '--data-dir', data.dir, '--shared-dir', shared.dir, '--node', 'joiner']
    const first = await copy(args)
    expect(first.code).toBe(1)
    expect(first.out).toMatch(/copied 2 of 3 clips \(1 files\) and 2 holds/)
    expect(first.err).toContain(`event ${ids.broken}`)

    // Run again: nothing twice.
    const again = await copy(args)
    expect(again.out).toMatch(/copied 0 of 3 clips \(0 files\) and 0 holds/)
    expect(again.out).toMatch(/2 were there already/)

    // The gateway joins the cluster on its old data dir: its events are shipped, its clips are served.
    joined = await startTestGateway({
      DOORSTEP_DATA_DIR: data.dir,
      DOORSTEP_DATABASE_URL: url,
      DOORSTEP_SHARED_DIR: shared.dir,
      DOORSTEP_NODE_ID: 'joiner',
    })
    const g = joined
    await until(
      'its events are in the shared table',
      async () => (await g.gateway.events.backfilled)?.done === true,
    )
    const admin = bearer(g.adminToken)
    const clip = await fetch(`${g.gateway.httpUrl}/api/v1/clips/${ids.kept}`, { headers: admin })
    expect(clip.status).toBe(200)
    expect(clip.headers.get('etag')).toBe(`"${ids.keptSha}"`)
    expect(fs.existsSync(g.gateway.clips.store.clipPath(ids.keptSha))).toBe(true)
    expect(g.gateway.clips.store.clipPath(ids.keptSha).startsWith(shared.dir)).toBe(true)
    const gone = await fetch(`${g.gateway.httpUrl}/api/v1/clips/${ids.gone}`, { headers: admin })
    expect(gone.status).toBe(410)
    const holds = (await (
      await fetch(`${g.gateway.httpUrl}/api/v1/holds?eventId=${ids.kept}`, { headers: admin })
    ).json()) as {
      holds: Hold[]
    }
    expect(holds.holds.map((h) => [h.reason, h.active])).toEqual([['case CP-1', true]])
  })

  it('says what is missing rather than guessing', async () => {
    const none = await copy(['--data-dir', data.dir, '--shared-dir', shared.dir])
    expect(none.code).toBe(2)
    expect(none.err).toMatch(/--to postgres/)
    const same = await copy([
      '--to',
      'postgres://127.0.0.1:1/x',
      '--data-dir',
      data.dir,
      '--shared-dir',
      data.dir,
    ])
    expect(same.code).toBe(2)
    expect(same.err).toMatch(/shared directory is the data dir/)
  })
})
