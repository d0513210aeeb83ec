import fs from 'node:fs'
import path from 'node:path'
import type { LogCheck, LogsReport } from '@doorstep/proto'
import Database from 'better-sqlite3'
import { AuditLog } from '../audit/index.js'
import { CustodyLog } from '../cases/index.js'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import type { Db } from '../db/index.js'
import { checkpointsInDb, checkpointsInFile } from './checkpoints.js'
import { evidenceDir, readRing } from './keys.js'
import { logSourcesFrom, verifyLogs } from './log-verify.js'

const USAGE = `doorstep audit verify [--data-dir DIR] [--json]

Checks, offline, the gateway's audit log and every case's custody log in DIR (default:
$DOORSTEP_DATA_DIR or ./data): each hash chain, and each against the checkpoints the evidence key
signed (kept in the database and in evidence/checkpoints.jsonl). Read-only; works while the gateway
runs. Exit 0 PASS, 1 FAIL, 2 usage.
`

/** What the whole check found, for the gateway's data dir. */
export function verifyDataDir(dataDir: string): LogsReport {
  const db = new Database(path.join(dataDir, 'doorstep.db'), { readonly: true, fileMustExist: true }) as Db
  try {
    return verifyLogs(
      logSourcesFrom({
        audit: new AuditLog({ db }),
        custody: new CustodyLog(db, Date.now),
        dbCheckpoints: checkpointsInDb(db),
        fileCheckpoints: checkpointsInFile(dataDir),
        keys: readRing(evidenceDir(dataDir)),
      }),
    )
  } finally {
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
  const r = verifyDataDir(dataDir)
  io.out(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatLogsReport(dataDir, r))
  return r.ok ? 0 : 1
}
