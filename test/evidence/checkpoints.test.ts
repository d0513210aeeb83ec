import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { CaseDetail, Checkpoint, LogsReport } from '@doorstep/proto'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { linkHash } from '../../gateway/src/audit/index.js'
import { checkpointsInFile } from '../../gateway/src/evidence/index.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { until } from '../helpers/wait.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

async function auditCli(dataDir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [CLI, 'audit', 'verify', '--data-dir', dataDir], {
      cwd: ROOT,
    })
    return { code: 0, out: stdout }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

interface AuditRow {
  seq: number
  at: number
  actor: string
  action: string
  subject: string
  details: string
}

/** What someone with the database file can do: drop the guards, delete rows, renumber and re-hash the rest. */
function rewriteAudit(db: Database.Database, keep: (r: AuditRow) => boolean): void {
  db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete')
  const rows = (db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[]).filter(keep)
  const insert = db.prepare(
    'INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  )
  db.transaction(() => {
    db.exec('DELETE FROM audit_log')
    let prev = '0'.repeat(64)
    rows.forEach((r, i) => {
      const body = {
        seq: i + 1,
        at: r.at,
        actor: r.actor,
        action: r.action,
        subject: r.subject,
        details: JSON.parse(r.details) as unknown,
      }
      const hash = linkHash(prev, body)
      insert.run(body.seq, r.at, r.actor, r.action, r.subject, r.details, prev, hash)
      prev = hash
    })
  })()
}

const fileCheckpoints = (dir: string, chain: string): Checkpoint[] =>
  checkpointsInFile(dir).checkpoints.filter((c) => c.chain === chain)

describe('signed checkpoints of the audit and custody logs', () => {
  let t: TestGateway
  let verify: () => Promise<LogsReport>

  beforeAll(async () => {
    // Its own file even in a run on PostgreSQL: these tests edit the logs in the file, and check the file
    // offline with `doorstep audit verify --data-dir`.
    t = await startTestGateway(
      { DOORSTEP_CHECKPOINT_EVERY: 5, DOORSTEP_CHECKPOINT_INTERVAL_MS: 1000 },
      {},
      { ownFile: true },
    )
    verify = async () =>
      (await api<LogsReport>(t.gateway.httpUrl, 'GET', '/api/v1/audit/verify', t.adminToken)).body
  })
  afterAll(async () => t?.stop())

  it('the audit log is checkpointed every N entries, in SQLite and in the file; an honest log passes', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await api(t.gateway.httpUrl, 'POST', '/api/v1/tokens', t.adminToken, {
        name: `clerk ${i}`,
        role: 'ops',
      })
      expect(res.status).toBe(201)
    }
    const cps = await until('an audit checkpoint', () => {
      const c = fileCheckpoints(t.dataDir, 'audit')
      return c.length > 0 ? c : undefined
    })
    expect(cps[0]).toMatchObject({ keyFingerprint: t.gateway.evidenceKeys.fingerprint })
    expect(cps[0]?.entries).toBeGreaterThanOrEqual(5)
    const r = await verify()
    expect(r).toMatchObject({ ok: true, problems: [], checkpointProblems: [] })
    expect(r.checkpoints).toBeGreaterThanOrEqual(1)
    const cli = await auditCli(t.dataDir)
    expect(cli.out).toContain('VERDICT: PASS')
    expect(cli.code).toBe(0)
  })

  it('a case’s custody log is checkpointed within the interval', async () => {
    await t.gateway.registry.create(deviceRow({ id: 'cam-cp-1', district: 4, releasePolicy: 'always' }))
    const now = Date.now()
    const created = await api<CaseDetail>(t.gateway.httpUrl, 'POST', '/api/v1/cases', t.adminToken, {
      number: 'CP-1',
      reason: 'checkpoint test',
      from: now - 60_000,
      to: now,
      area: { kind: 'devices', ids: ['cam-cp-1'] },
    })
    expect(created.status).toBe(201)
    const chain = `custody:${created.body.case.id}`
    await until('a custody checkpoint', () => fileCheckpoints(t.dataDir, chain).length > 0)
    const r = await verify()
    expect(r.ok).toBe(true)
    expect(r.custody.find((c) => c.caseId === created.body.case.id)?.checkpoints).toBeGreaterThanOrEqual(1)
  })

  it('the trigger dropped, rows deleted and the chain recomputed in SQLite: caught over HTTP and offline', async () => {
    const cp = fileCheckpoints(t.dataDir, 'audit')[0] as Checkpoint
    const db = new Database(path.join(t.dataDir, 'doorstep.db'))
    try {
      // The guard holds until it is dropped.
      expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(/append-only/)
      rewriteAudit(db, (r) => r.seq !== 2)
      // The thorough forger also removes the checkpoints the database holds.
      db.exec('DROP TRIGGER evidence_checkpoints_no_delete; DELETE FROM evidence_checkpoints')
    } finally {
      db.close()
    }
    const r = await verify()
    expect(r.ok).toBe(false)
    // The chain itself is consistent again: only the signed checkpoint (from the file) tells.
    expect(r.problems).toContainEqual({
      seq: cp.entries,
      problem: expect.stringContaining(`entries up to ${cp.entries} were rewritten or removed`),
    })
    expect(r.checkpointProblems.join('\n')).toContain('in the checkpoint file but not in the database')
    const cli = await auditCli(t.dataDir)
    expect(cli.code).toBe(1)
    expect(cli.out).toContain('VERDICT: FAIL')
    expect(cli.out).toContain(
      `audit log entry ${cp.entries}: entries up to ${cp.entries} were rewritten or removed`,
    )
  })

  it('a custody log cut short in SQLite: caught, naming the case', async () => {
    const [id] = (await t.gateway.cases.custody.heads()).map((h) => h.caseId)
    const cp = fileCheckpoints(t.dataDir, `custody:${id}`).at(-1) as Checkpoint
    expect(cp.entries).toBeGreaterThan(1)
    const db = new Database(path.join(t.dataDir, 'doorstep.db'))
    try {
      db.exec('DROP TRIGGER custody_log_no_delete')
      db.prepare('DELETE FROM custody_log WHERE case_id = ? AND seq > 1').run(id)
    } finally {
      db.close()
    }
    const r = await verify()
    const c = r.custody.find((x) => x.caseId === id)
    expect(c?.ok).toBe(false)
    expect(c?.problems).toContainEqual({
      seq: cp.entries,
      problem: expect.stringContaining('the log was cut short'),
    })
    const cli = await auditCli(t.dataDir)
    expect(cli.code).toBe(1)
    expect(cli.out).toContain(`custody log of case ${id}, entry ${cp.entries}: the log was cut short`)
  })

  it('a checkpoint line edited in the file: its signature no longer matches', async () => {
    const file = path.join(t.dataDir, 'evidence', 'checkpoints.jsonl')
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n')
    const first = JSON.parse(lines[0] as string) as Checkpoint
    lines[0] = JSON.stringify({ ...first, entries: first.entries + 1 })
    fs.writeFileSync(file, `${lines.join('\n')}\n`)
    const r = await verify()
    expect(r.checkpointProblems.join('\n')).toContain('its signature does not match its content')
  })
})
