import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { openDb } from '../../gateway/src/db/sqlite.js'
import { type Finding, machineProbes, type Probes, runDoctorCli } from '../../gateway/src/doctor/index.js'
import { EventIndex } from '../../gateway/src/events/event-index.js'
import { SCHEMAS, versionsOf } from '../../gateway/src/upgrade/schemas.js'
import { makePreviousReleaseDb } from '../fixtures/previous-release/make-db.js'
import { deviceRecord } from '../helpers/devices.js'
import { tempDir } from '../helpers/tmp.js'
import { makePki } from '../tls/certs.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')
const DAY = 86_400_000

/** Runs the doctor in-process on a put-together machine; returns the exit code and the findings. */
async function doctor(
  env: Record<string, string>,
  probes: Partial<Probes> = {},
  argv: string[] = [],
): Promise<{ code: number; findings: Finding[]; err: string }> {
  let out = ''
  let err = ''
  const code = await runDoctorCli(
    [...argv, '--json'],
    env,
    {
      out: (s) => {
        out += s
      },
      err: (s) => {
        err += s
      },
    },
    { ...machineProbes, ...probes },
  )
  return { code, findings: out ? (JSON.parse(out) as { findings: Finding[] }).findings : [], err }
}
const find = (fs: Finding[], check: string) => fs.find((f) => f.check === check)

describe('doorstep doctor', () => {
  const tmp = tempDir('doorstep-doctor-')
  afterAll(() => tmp.cleanup())
  const dataDir = (name: string, mode = 0o700) => {
    const d = path.join(tmp.dir, name)
    fs.mkdirSync(d, { recursive: true, mode })
    fs.chmodSync(d, mode)
    return d
  }

  it('passes on this machine, and says so in words', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'doctor', '--data-dir', dataDir('fine')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
    })
    expect(stdout).toMatch(/^ok {4}ffmpeg {8}ffmpeg version /m)
    expect(stdout).toMatch(/^ok {4}influxd /m)
    expect(stdout).toMatch(/ready to run/)
  })

  it('names what is missing and how to install it, and exits 1', async () => {
    // A PATH with nothing on it: no ffmpeg, no influxd, no timedatectl.
    const empty = dataDir('empty-path')
    const err = await run(process.execPath, [CLI, 'doctor', '--data-dir', dataDir('nopath')], {
      cwd: ROOT,
      env: { PATH: empty },
    }).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    )
    expect(err?.code).toBe(1)
    expect(err?.stdout).toMatch(/^FAIL {2}ffmpeg {8}not found on PATH\n\s+→ apt-get install -y ffmpeg/m)
    expect(err?.stdout).toMatch(/^FAIL {2}influxd /m)
    expect(err?.stdout).toMatch(/to fix before running the gateway here/)
  })

  it('says what the next start does with the database: an upgrade and the room for its backup, or a refusal', async () => {
    const d = dataDir('previous-release')
    const env = { DOORSTEP_DATA_DIR: d }
    expect(find((await doctor(env)).findings, 'schema')).toMatchObject({
      status: 'ok',
      detail: 'no database yet; made at first start',
    })
    const { file } = await makePreviousReleaseDb(d)
    const upgrade = find((await doctor(env)).findings, 'schema')
    expect(upgrade?.status).toBe('warn')
    expect(upgrade?.detail).toMatch(
      /^doorstep\.db is at release 0\.1\.0's schema; the first start of 0\.2\.0 backs it up into /,
    )
    const full = find(
      (await doctor(env, { statfs: async () => ({ sizeBytes: 2 ** 40, freeBytes: 1024 }) })).findings,
      'schema',
    )
    expect(full).toMatchObject({ status: 'fail', detail: expect.stringContaining('1.0 KiB free') })
    expect(full?.fix).toMatch(/^free [\d.]+ MiB there/)

    // One step past what this release knows of the audit log.
    const known = versionsOf(SCHEMAS).audit as number
    const db = new Database(file)
    db.prepare("UPDATE schema_versions SET version = ? WHERE feature = 'audit'").run(known + 1)
    db.close()
    const newer = find((await doctor(env)).findings, 'schema')
    expect(newer?.status).toBe('fail')
    expect(newer?.detail).toContain(`audit is at version ${known + 1}, 0.2.0 knows ${known}`)
  })

  it('says when the next start copies a database with 4 KiB pages, and the room it needs', async () => {
    const d = dataDir('four-kib')
    const env = { DOORSTEP_DATA_DIR: d }
    expect(find((await doctor(env)).findings, 'pages')?.status).toBe('ok')
    const made = new Database(path.join(d, 'doorstep.db'))
    made.pragma('page_size = 4096')
    made.pragma('journal_mode = WAL')
    made.exec('CREATE TABLE t (x)')
    made.close()
    const pages = find((await doctor(env)).findings, 'pages')
    expect(pages?.status).toBe('warn')
    expect(pages?.detail).toMatch(/^doorstep\.db has 4 KiB pages; the next start copies it to 16 KiB pages/)
    const full = find(
      (await doctor(env, { statfs: async () => ({ sizeBytes: 2 ** 40, freeBytes: 1024 }) })).findings,
      'pages',
    )
    expect(full?.fix).toMatch(
      /^free [\d.]+ MiB in the data dir, or the gateway keeps running on the old pages/,
    )
  })

  it('says how many events wait to be shipped to the shared PostgreSQL, and warns of a pile or an orphaned outbox', async () => {
    const d = dataDir('outbox')
    const shared = {
      DOORSTEP_DATA_DIR: d,
      DOORSTEP_DATABASE_URL: 'postgres://doorstep@127.0.0.1:5432/doorstep',
    }
    const alone = { DOORSTEP_DATA_DIR: d }
    const db = openDb(path.join(d, 'doorstep.db'))
    try {
      const index = new EventIndex(db, { outbox: true })
      index.load()
      // Nothing to say about an empty outbox on a gateway that shares nothing.
      expect(find((await doctor(alone)).findings, 'shared events')).toBeUndefined()
      const unit = deviceRecord({ id: 'cam-doctor', lat: 30, lon: 120 })
      for (let i = 0; i < 3; i++)
        index.record(unit, { eventId: randomUUID(), phase: 'start', kind: 'motion', score: 0.5 }, 1_000 + i)
      db.prepare(
        "INSERT INTO event_backfill (target, tbl, after_rowid, queued) VALUES ('x', 'event_m_202605', 9, 500)",
      ).run()
      const few = find((await doctor(shared)).findings, 'shared events')
      expect(few?.status).toBe('ok')
      expect(few?.detail).toBe(
        '3 events waiting to be shipped to the shared PostgreSQL; the copy of its earlier events is under way (500 named so far, at event_m_202605)',
      )
      // Moved off the cluster with events never shipped: said, with what to do.
      const orphaned = find((await doctor(alone)).findings, 'shared events')
      expect(orphaned?.status).toBe('warn')
      expect(orphaned?.detail).toMatch(
        /^3 events indexed while this gateway shared PostgreSQL were never shipped/,
      )
      const add = db.prepare("INSERT INTO event_outbox (event_id) VALUES ('x')")
      db.transaction(() => {
        for (let i = 0; i < 10_000; i++) add.run()
      })()
      const many = find((await doctor(shared)).findings, 'shared events')
      expect(many?.status).toBe('warn')
      expect(many?.detail).toMatch(/^10003 events waiting/)
    } finally {
      db.close()
    }
  })

  it('refuses a bad configuration without echoing its value', async () => {
    const r = await doctor({ DOORSTEP_DATA_DIR: dataDir('cfg'), DOORSTEP_ADMIN_TOKEN: 'short-secret-x' })
    expect(r.code).toBe(1)
    expect(r.findings.map((f) => [f.check, f.status])).toEqual([['config', 'fail']])
    expect(r.findings[0]?.detail).toMatch(/^DOORSTEP_ADMIN_TOKEN: /)
    expect(JSON.stringify(r.findings)).not.toContain('short-secret-x')
  })

  it('plans open files for the fleet: a soft limit to raise, a hard limit that cannot hold it', async () => {
    const limits = (soft: number, hard: number) => async () =>
      `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 ${hard}                 files\n`
    const d = dataDir('nofile')
    const raise = await doctor({}, { limits: limits(1024, 65536) }, ['--data-dir', d])
    expect(find(raise.findings, 'open files')).toMatchObject({
      status: 'warn',
      fix: expect.stringContaining('LimitNOFILE=3408'),
    })
    const cannot = await doctor({}, { limits: limits(1024, 2048) }, ['--data-dir', d, '--units', '19000'])
    expect(find(cannot.findings, 'open files')).toMatchObject({
      status: 'fail',
      detail: 'limit 1024 (hard 2048) for 19000 units',
    })
    expect(cannot.code).toBe(1)
  })

  it('fails a disk over the clip watermark and warns ten points below it', async () => {
    const d = dataDir('disk')
    const disk = (usedPct: number) => async () => ({
      sizeBytes: 100 * 1024 ** 3,
      freeBytes: (100 - usedPct) * 1024 ** 3,
    })
    expect(find((await doctor({}, { statfs: disk(95) }, ['--data-dir', d])).findings, 'disk')?.status).toBe(
      'fail',
    )
    expect(find((await doctor({}, { statfs: disk(85) }, ['--data-dir', d])).findings, 'disk')?.status).toBe(
      'warn',
    )
    expect(find((await doctor({}, { statfs: disk(50) }, ['--data-dir', d])).findings, 'disk')?.status).toBe(
      'ok',
    )
  })

  it('warns about a data dir others can read, fails a key file others can read', async () => {
    const open = dataDir('open', 0o755)
    expect(find((await doctor({}, {}, ['--data-dir', open])).findings, 'data dir')).toMatchObject({
      status: 'warn',
      fix: `chmod 700 ${open}`,
    })
    const keyDir = path.join(open, 'evidence')
    fs.mkdirSync(keyDir)
    fs.writeFileSync(path.join(keyDir, 'key.pem'), 'not really a key', { mode: 0o644 })
    expect(find((await doctor({}, {}, ['--data-dir', open])).findings, 'evidence key')?.status).toBe('fail')
    fs.chmodSync(path.join(keyDir, 'key.pem'), 0o600)
    expect(find((await doctor({}, {}, ['--data-dir', open])).findings, 'evidence key')?.status).toBe('ok')
  })

  it("reads the TLS certificate's end date: fine, near its end, expired", async () => {
    const pki = makePki(dataDir('pki'))
    const { cert, key } = pki.server('gw')
    const env = { DOORSTEP_TLS_CERT: cert, DOORSTEP_TLS_KEY: key, DOORSTEP_TLS_CLIENT_CA: pki.caFile }
    const d = dataDir('tls')
    const at = (now: number) => doctor(env, { now: () => now }, ['--data-dir', d])
    // The test certificates live two days: seen from 60 days before they end, from today, and after.
    const early = await at(Date.now() - 60 * DAY)
    expect(find(early.findings, 'tls certificate')?.status).toBe('ok')
    const soon = await at(Date.now())
    expect(find(soon.findings, 'tls certificate')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/: 1 day left$/),
    })
    expect(find(soon.findings, 'unit CA')?.status).toBe('warn')
    const late = await at(Date.now() + 3 * DAY)
    expect(find(late.findings, 'tls certificate')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/EXPIRED$/),
    })
    expect(late.code).toBe(1)
  })

  it('refuses a bad --units with the usage exit code', async () => {
    expect((await doctor({}, {}, ['--units', 'many'])).code).toBe(2)
  })
})
