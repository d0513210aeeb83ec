import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { CaseDetail, ChainReport, CustodyReport, DeviceView, EventList } from '@doorstep/proto'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { readManifest, verifyFiles } from '../../gateway/src/backup/index.js'
import { isDoorstepError } from '../../gateway/src/errors.js'
import { RELEASE, readState, UPGRADE_BACKUPS } from '../../gateway/src/upgrade/index.js'
import { SCHEMAS, versionsOf } from '../../gateway/src/upgrade/schemas.js'
import { doorstep, STACK_FRAME } from '../backup/helpers.js'
import {
  makePreviousReleaseDb,
  type PreviousReleaseDb,
  RELEASE_0_1_0,
} from '../fixtures/previous-release/make-db.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { capturingLogger } from '../helpers/log.js'
import { tempDir } from '../helpers/tmp.js'

const run = promisify(execFile)
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex')
const backupsIn = (dataDir: string) => {
  const base = path.join(dataDir, UPGRADE_BACKUPS)
  return fs.existsSync(base) ? fs.readdirSync(base) : []
}

/** `npm start`'s main as a process, on its own ports; its exit code and stderr. */
async function npmStart(env: Record<string, string>): Promise<{ code: number; err: string }> {
  const main = path.resolve(import.meta.dirname, '../../gateway/src/main.ts')
  try {
    const { stderr } = await run(process.execPath, ['--import', 'tsx', main], {
      env: {
        ...process.env,
        DOORSTEP_HTTP_PORT: '0',
        DOORSTEP_MQTT_PORT: '0',
        DOORSTEP_INFLUX_URL: inject('influxUrl'),
        DOORSTEP_LOG_LEVEL: 'warn',
        ...env,
      },
      timeout: 30_000,
    })
    return { code: 0, err: stderr }
  } catch (e) {
    const x = e as { code?: number; stderr?: string }
    return { code: x.code ?? -1, err: x.stderr ?? '' }
  }
}

/** What a refused start threw. */
async function refusal(
  start: Promise<TestGateway>,
): Promise<{ code: string; message: string; details: unknown }> {
  const err = await start.then(
    () => {
      throw new Error('the gateway started')
    },
    (e: unknown) => e,
  )
  if (!isDoorstepError(err)) throw err
  return { code: err.code, message: err.message, details: err.details }
}

/** These tests are of the data dir's own database file: it holds everything, whatever the run shares in. */
const OWN_FILE = { ownFile: true }

describe('upgrading a database release 0.1.0 left', () => {
  const tmp = tempDir('doorstep-upgrade-')
  const dataDir = path.join(tmp.dir, 'data')
  let made: PreviousReleaseDb
  let t: TestGateway | null = null

  afterAll(async () => {
    await t?.stop({ keepData: true })
    tmp.cleanup()
  })

  it('backs the databases up first, then migrates them and records the release', async () => {
    made = await makePreviousReleaseDb(dataDir)
    expect(readState(made.file)).toEqual({ release: null, versions: RELEASE_0_1_0 })
    const cap = capturingLogger()
    t = await startTestGateway({ DOORSTEP_DATA_DIR: dataDir }, { log: cap.log }, OWN_FILE)

    const [name, ...more] = backupsIn(dataDir)
    expect(more).toEqual([])
    expect(name).toMatch(/^0\.1\.0-to-0\.2\.0-\d{8}T\d{9}Z$/)
    const dir = path.join(dataDir, UPGRADE_BACKUPS, name as string)
    const manifest = await readManifest(dir)
    if (!manifest) throw new Error('no manifest')
    expect(manifest.files.map((f) => [f.kind, f.target])).toEqual([['sqlite', 'doorstep.db']])
    expect(await verifyFiles(dir, manifest)).toEqual([])
    // The snapshot is the database as 0.1.0 left it.
    const snap = path.join(dir, manifest.files[0]?.path as string)
    expect(readState(snap)).toEqual({ release: null, versions: RELEASE_0_1_0 })
    expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe('700')

    expect(readState(made.file)).toEqual({ release: RELEASE, versions: versionsOf(SCHEMAS) })
    expect(RELEASE).toBe('0.2.0')
    const db = new Database(made.file, { readonly: true })
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' ORDER BY name")
      .pluck()
      .all()
    db.close()
    expect(indexes).toEqual(expect.arrayContaining(['cases_created', 'cases_state_created']))

    const log = cap.text()
    expect(log).toContain('upgrading the databases: backing them up first')
    expect(log).toContain('pre-upgrade backup taken; migrating')
    expect(log).toContain('databases upgraded')
    expect(log).toContain(dir)
  })

  it('serves what 0.1.0 stored: units, events and their clip, the case and its pull, the audit chain', async () => {
    const g = t as TestGateway
    const base = g.gateway.httpUrl
    const devices = await api<{ devices: DeviceView[] }>(base, 'GET', '/api/v1/devices', g.adminToken)
    expect(devices.body.devices.map((d) => d.id).sort()).toEqual(made.devices.map((d) => d.id).sort())

    const events = await api<EventList>(base, 'GET', '/api/v1/events', g.adminToken)
    expect(events.body.events.map((e) => e.id).sort()).toEqual([...made.events].sort())
    const withClip = events.body.events.find((e) => e.id === made.clipEventId)
    expect(withClip?.clip).toMatchObject({ state: 'ready' })

    const detail = await api<CaseDetail>(base, 'GET', `/api/v1/cases/${made.caseId}`, g.adminToken)
    expect(detail.status).toBe(200)
    expect(detail.body.case).toMatchObject({ number: made.caseNumber, state: 'open' })
    const pulled = detail.body.devices.find((d) => d.pull !== null)
    expect(pulled?.pull).toMatchObject({ id: made.pullId, state: 'refused' })
    const open = await api<{ cases: Array<{ id: string }> }>(
      base,
      'GET',
      '/api/v1/cases?state=open',
      g.adminToken,
    )
    expect(open.body.cases.map((c) => c.id)).toEqual([made.caseId])

    const chain = await api<ChainReport>(base, 'GET', '/api/v1/audit/verify', g.adminToken)
    expect(chain.body).toMatchObject({ ok: true, problems: [] })
    // The fixture's entries, and those this test's requests added.
    expect(chain.body.entries).toBeGreaterThan(made.auditEntries)

    // The case's custody chain goes on from where 0.1.0 left it: closing the case appends after its
    // last entry, and the whole chain still verifies.
    const custodyUrl = `/api/v1/cases/${made.caseId}/custody`
    const before = await api<CustodyReport>(base, 'GET', custodyUrl, g.adminToken)
    expect(before.body.entries.length).toBeGreaterThan(0)
    const closed = await api(base, 'POST', `/api/v1/cases/${made.caseId}/close`, g.adminToken)
    expect(closed.status).toBe(200)
    const after = await api<CustodyReport>(base, 'GET', custodyUrl, g.adminToken)
    expect(after.body.verify).toMatchObject({ ok: true, problems: [] })
    expect(after.body.entries.map((e) => e.seq)).toEqual(after.body.entries.map((_, i) => i + 1))
    expect(after.body.entries.length).toBeGreaterThan(before.body.entries.length)
    expect(after.body.entries.at(-1)?.action).toBe('case.closed')
  })

  it('keeps a backup that `doorstep restore` checks and restores, to go back to 0.1.0', async () => {
    const [name] = backupsIn(dataDir)
    const back = path.join(tmp.dir, 'rolled-back')
    const r = await doorstep(
      'restore',
      '--from',
      path.join(dataDir, UPGRADE_BACKUPS, name as string),
      '--data-dir',
      back,
    )
    expect(r.err).not.toMatch(STACK_FRAME)
    expect(r.code).toBe(0)
    expect(readState(path.join(back, 'doorstep.db'))).toEqual({ release: null, versions: RELEASE_0_1_0 })
  })

  it('takes no second backup on the next start', async () => {
    await (t as TestGateway).stop({ keepData: true })
    t = null
    const cap = capturingLogger()
    t = await startTestGateway({ DOORSTEP_DATA_DIR: dataDir }, { log: cap.log }, OWN_FILE)
    expect(backupsIn(dataDir)).toHaveLength(1)
    expect(cap.text()).not.toContain('upgrading the databases')
    expect(readState(made.file)).toEqual({ release: RELEASE, versions: versionsOf(SCHEMAS) })
  })

  it('refuses to start on a database a newer release wrote, naming both, and changes nothing', async () => {
    await (t as TestGateway).stop({ keepData: true })
    t = null
    // What 0.3.0 would leave: one feature a step further, and its release recorded.
    const db = new Database(made.file)
    db.prepare("UPDATE schema_versions SET version = version + 1 WHERE feature = 'audit'").run()
    db.prepare("UPDATE schema_release SET release = '0.3.0'").run()
    db.close()
    const before = sha256(made.file)
    const files = fs.readdirSync(dataDir).sort()

    const r = await refusal(startTestGateway({ DOORSTEP_DATA_DIR: dataDir }, {}, OWN_FILE))
    expect(r.code).toBe('DOORSTEP_ERR_DOWNGRADE_REFUSED')
    const audit = versionsOf(SCHEMAS).audit as number
    expect(r.message).toContain('doorstep.db was last written by Doorstep 0.3.0')
    expect(r.message).toContain(`this release (${RELEASE})`)
    expect(r.message).toContain(`audit is at version ${audit + 1}, ${RELEASE} knows ${audit}`)
    expect(r.details).toMatchObject({
      databaseRelease: '0.3.0',
      release: RELEASE,
      databaseVersions: { audit: audit + 1 },
      releaseVersions: { audit },
    })
    expect(sha256(made.file)).toBe(before)
    // Nothing new in the data dir. A read-only look at a WAL database leaves SQLite's shared-memory
    // file and an empty log beside it; neither changes what any release reads.
    const sqliteSide = (f: string) => f === 'doorstep.db-shm' || f === 'doorstep.db-wal'
    expect(
      fs
        .readdirSync(dataDir)
        .filter((f) => !sqliteSide(f))
        .sort(),
    ).toEqual(files.filter((f) => !sqliteSide(f)))
    const wal = path.join(dataDir, 'doorstep.db-wal')
    if (fs.existsSync(wal)) expect(fs.statSync(wal).size).toBe(0)
    expect(backupsIn(dataDir)).toHaveLength(1)

    // `doorstep tokens` writes the database too, and refuses it the same way.
    const cli = await doorstep('tokens', 'list', '--data-dir', dataDir)
    expect(cli.code).toBe(1)
    expect(cli.err).toMatch(
      /^doorstep tokens: DOORSTEP_ERR_DOWNGRADE_REFUSED: doorstep\.db was last written by Doorstep 0\.3\.0/,
    )
    expect(cli.err).not.toMatch(STACK_FRAME)
    expect(sha256(made.file)).toBe(before)

    // `npm start`: one line with the code and the message, exit 1, no stack trace.
    const main = await npmStart({ DOORSTEP_DATA_DIR: dataDir })
    expect(main.code).toBe(1)
    expect(main.err).toMatch(
      /^doorstep: could not start: DOORSTEP_ERR_DOWNGRADE_REFUSED: doorstep\.db was last written by Doorstep 0\.3\.0.*\n$/,
    )
    expect(main.err).not.toMatch(STACK_FRAME)
    expect(sha256(made.file)).toBe(before)
  })

  it('refuses an upgrade when there is no room for its backup, saying how much and where', async () => {
    const other = path.join(tmp.dir, 'full')
    const old = await makePreviousReleaseDb(other)
    const before = sha256(old.file)
    const r = await refusal(
      startTestGateway({ DOORSTEP_DATA_DIR: other }, { freeSpace: async () => 1024 }, OWN_FILE),
    )
    expect(r.code).toBe('DOORSTEP_ERR_UPGRADE_NO_ROOM')
    expect(r.message).toContain(`from 0.1.0 to ${RELEASE}`)
    expect(r.message).toContain(path.join(other, UPGRADE_BACKUPS))
    expect(r.message).toMatch(/needs [\d.]+ MiB free .* and 1\.0 KiB is free there/)
    expect(r.details).toMatchObject({ freeBytes: 1024 })
    expect(sha256(old.file)).toBe(before)
    expect(readState(old.file)).toEqual({ release: null, versions: RELEASE_0_1_0 })
    expect(backupsIn(other)).toEqual([])

    // Nor does `doorstep tokens` change a database the gateway has not upgraded yet.
    const cli = await doorstep('tokens', 'list', '--data-dir', other)
    expect(cli.code).toBe(1)
    expect(cli.err).toContain('DOORSTEP_ERR_UPGRADE_PENDING: doorstep.db is still at release 0.1.0')
    expect(cli.err).toContain(`cases 1, ${RELEASE} has ${versionsOf(SCHEMAS).cases}`)
    expect(sha256(old.file)).toBe(before)
  })

  it('needs no backup for a new data dir', async () => {
    const fresh = path.join(tmp.dir, 'fresh')
    const g = await startTestGateway({ DOORSTEP_DATA_DIR: fresh }, {}, OWN_FILE)
    await g.stop({ keepData: true })
    expect(backupsIn(fresh)).toEqual([])
    expect(readState(path.join(fresh, 'doorstep.db'))).toEqual({
      release: RELEASE,
      versions: versionsOf(SCHEMAS),
    })
  })
})
