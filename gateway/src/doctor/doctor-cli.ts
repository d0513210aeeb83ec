import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import type { Finding } from './check.js'
import { DEFAULT_UNITS, runChecks } from './doctor.js'
import { machineProbes, type Probes } from './probes.js'

const USAGE = `doorstep doctor [--data-dir DIR] [--units N] [--json]

Checks this machine for running the gateway with the current environment's DOORSTEP_ settings:
the configuration, Node.js, ffmpeg and ffprobe, InfluxDB (the managed influxd, or the configured
URL), clock sync, the open-files limit against the fleet, the data dir's permissions, disk space
against the clip watermark, the evidence key's mode and the TLS certificates' expiry. Each problem
comes with what to do. Exit 0 when nothing fails (warnings allowed), 1 when something does.

  --data-dir DIR   the data dir to check (default: DOORSTEP_DATA_DIR, else ./data)
  --units N        the fleet to plan open files for (default: the units in the data dir's
                   database, else ${DEFAULT_UNITS})
  --json           the findings as JSON
`

/** The units already provisioned in this data dir, read without disturbing a running gateway. */
function provisionedUnits(dataDir: string): number | null {
  const file = path.join(dataDir, 'doorstep.db')
  if (!fs.existsSync(file)) return null
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true })
    try {
      const row = db.prepare('SELECT count(*) AS n FROM devices').get() as { n: number } | undefined
      return row?.n ?? null
    } finally {
      db.close()
    }
  } catch {
    return null
  }
}

const MARK: Record<Finding['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }

export function formatFindings(findings: Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length))
  const lines = findings.map((f) => {
    const head = `${MARK[f.status]}  ${f.check.padEnd(width)}  ${f.detail}`
    return f.fix ? `${head}\n${' '.repeat(width + 8)}→ ${f.fix}` : head
  })
  const fails = findings.filter((f) => f.status === 'fail').length
  const warns = findings.filter((f) => f.status === 'warn').length
  const verdict =
    fails > 0
      ? `${fails} to fix before running the gateway here${warns > 0 ? `, ${warns} to look at` : ''}`
      : warns > 0
        ? `ready to run, ${warns} to look at`
        : 'ready to run'
  return `${lines.join('\n')}\n\n${verdict}\n`
}

export async function runDoctorCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
  probes: Probes = machineProbes,
): Promise<number> {
  const args = parseCommandArgs(
    'doctor',
    USAGE,
    argv,
    { 'data-dir': { type: 'string' }, units: { type: 'string' }, json: { type: 'boolean' } },
    io,
  )
  if (!args.ok) return args.exit
  if (args.positionals.length > 0) {
    io.err(`doorstep doctor: unexpected argument "${args.positionals[0]}"\n\n${USAGE}`)
    return 2
  }
  const dataDir = dataDirOf(args.values['data-dir'], env)
  let units = provisionedUnits(dataDir) || DEFAULT_UNITS
  if (args.values.units !== undefined) {
    units = Number(args.values.units)
    if (!Number.isInteger(units) || units < 1 || units > 1_000_000) {
      io.err(`doorstep doctor: --units must be a whole number from 1 to 1000000\n`)
      return 2
    }
  }
  const findings = await runChecks({ ...env, DOORSTEP_DATA_DIR: dataDir }, probes, { units })
  io.out(args.values.json ? `${JSON.stringify({ findings }, null, 2)}\n` : formatFindings(findings))
  return findings.some((f) => f.status === 'fail') ? 1 : 0
}
