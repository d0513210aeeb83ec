import fs from 'node:fs'
import path from 'node:path'
import type { LogCheck, LogsReport } from '@doorstep/proto'
import Database from 'better-sqlite3'
import { AuditLog } from '../audit/index.js'
import { CustodyLog } from '../cases/index.js'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import { type Db, sharedDbFromEnv } from '../db/index.js'
import { isDoorstepError } from '../errors.js'
import { checkpointsInDb, checkpointsInFile } from './checkpoints.js'
import { evidenceDir, readRing } from './keys.js'
import { logSourcesFrom, verifyLogs } from './log-verify.js'

const USAGE = `doorstep audit verify [--data-dir DIR] [--json]

Checks, offline, the gateway's audit log and every case's custody log in DIR (default:
$DOORSTEP_DATA_DIR or ./data), or in the gateways' shared PostgreSQL when DOORSTEP_DATABASE_URL
is set: each hash chain, and each against the checkpoints this gateway's evidence key signed (kept
in DIR's database and in evidence/checkpoints.jsonl). Read-only; works while the gateway runs.
Exit 0 PASS, 1 FAIL, 2 usage.
`

/** What the whole check found, for the gateway's data dir. */
export async function verifyDataDir(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<LogsReport> {
  const db = new Database(path.join(dataDir, 'doorstep.db'), { readonly: true, fileMustExist: true }) as Db
  // Read only: neither log is started (starting migrates), and both read through this one handle, or
  // from the shared PostgreSQL the gateways keep them in.
  let shared: Awaited<ReturnType<typeof sharedDbFromEnv>>
  try {
    shared = await sharedDbFromEnv(env, db, 'audit-verify')
  } catch (err) {
    db.close()
    throw err
  }
  try {
    return await verifyLogs(
      logSourcesFrom({
        audit: new AuditLog({ shared }),
        custody: new CustodyLog(shared, Date.now),
        dbCheckpoints: checkpointsInDb(db),
        fileCheckpoints: checkpointsInFile(dataDir),
        keys: readRing(evidenceDir(dataDir)),
      }),
    )
  } finally {
    await shared.close()
    db.close()
  }
}

const when = (ms: number | null) => (ms === null ? 'none yet' : `last ${new Date(ms).toISOString()}`)

function line(name: string, c: LogCheck): string {
  return `  ${name.padEnd(46)} ${c.entries} entries, ${c.ok ? 'intact' : 'BROKEN'}, ${c.checkpoints} signed checkpoints (${when(c.lastCheckpointAt)})`
}

/** The report for people: a line per log, then one verdict with every problem named. */
export function formatLogsReport(dataDir: string, r: LogsReport): string {
  const lines = [`Doorstep audit and custody logs: ${dataDir}`, line('audit log', r)]
  for (const c of r.custody) lines.push(line(`custody log of case ${c.caseId}`, c))
  const problems = [
    ...r.problems.map((p) => `audit log entry ${p.seq}: ${p.problem}`),
    ...r.custody.flatMap((c) =>
      c.problems.map((p) => `custody log of case ${c.caseId}, entry ${p.seq}: ${p.problem}`),
    ),
    ...r.checkpointProblems,
  ]
  lines.push('')
  if (r.ok) {
    lines.push(
      'VERDICT: PASS — every chain is intact and matches every checkpoint the evidence key signed. ' +
        'Entries made after a log’s last checkpoint are covered by its chain only: cutting them off would not show.',
    )
  } else {
    lines.push(`VERDICT: FAIL — ${problems.length} problem${problems.length === 1 ? '' : 's'}:`)
    for (const p of problems) lines.push(`  - ${p}`)
  }
  return `${lines.join('\n')}\n`
}

/** `doorstep audit verify`. Returns the exit code. */
export async function runAuditCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs(
    'audit',
    USAGE,
    argv,
    { 'data-dir': { type: 'string' }, json: { type: 'boolean' } },
    io,
  )
  if (!args.ok) return args.exit
  const { values, positionals } = args
  if (positionals[0] !== 'verify' || positionals.length > 1) {
    io.err(USAGE)
    return 2
  }
  const dataDir = dataDirOf(values['data-dir'], env)
  if (!fs.existsSync(path.join(dataDir, 'doorstep.db'))) {
    io.err(`doorstep audit: no gateway database in ${dataDir} (pass --data-dir)\n`)
    return 2
  }
  let r: LogsReport
  try {
    r = await verifyDataDir(dataDir, env)
  } catch (err) {
    if (!isDoorstepError(err)) throw err
    io.err(`doorstep audit: ${err.code}: ${err.message}\n`)
    return 1
  }
  io.out(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatLogsReport(dataDir, r))
  return r.ok ? 0 : 1
}
