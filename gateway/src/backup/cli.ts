import path from 'node:path'
import { type CliIo, parseCommandArgs } from '../cli-args.js'
import { loadConfig } from '../config.js'
import { backup } from './backup.js'
import { progressTo } from './progress.js'
import { DamagedBackupError, restore } from './restore.js'
import { redact } from './run-state.js'

export const BACKUP_USAGE = `doorstep backup --to DIR [--data-dir DIR] [--influx-rpc HOST:PORT]

  Backs up a gateway's data dir (default: $DOORSTEP_DATA_DIR or ./data), also while it runs:
  SQLite snapshots, clips and pulled footage (only new files are copied into an existing backup),
  keys, the config it runs with (no secrets), the managed InfluxDB (influxd backup -portable), and
  manifest.json with the sha256 of every file. --influx-rpc backs up an external InfluxDB 1.x
  through its RPC bind-address.
`

export const RESTORE_USAGE = `doorstep restore --from DIR --data-dir NEW [--influx-rpc HOST:PORT]

  Checks every file of the backup in DIR against its manifest, refuses a damaged backup, then
  restores into NEW (which must be empty or absent), InfluxDB included (into a managed influxd
  under NEW, or the external one at --influx-rpc). Start the gateway with DOORSTEP_DATA_DIR=NEW.
`

const OPTIONS = {
  to: { type: 'string' },
  from: { type: 'string' },
  'data-dir': { type: 'string' },
  'influx-rpc': { type: 'string' },
} as const

/** `doorstep backup …`. Returns the exit code: 0 done, 1 failed, 2 usage. */
export async function runBackupCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs('backup', BACKUP_USAGE, argv, OPTIONS, io)
  if (!args.ok) return args.exit
  const { values } = args
  if (!values.to || values.from) {
    io.err(`doorstep backup: give --to DIR\n\n${BACKUP_USAGE}`)
    return 2
  }
  try {
    await backup({
      dataDir: path.resolve(values['data-dir'] ?? env.DOORSTEP_DATA_DIR ?? './data'),
      to: path.resolve(values.to),
      influxRpc: values['influx-rpc'],
      influxdBin: env.DOORSTEP_INFLUXD_BIN || 'influxd',
      influxDb: env.DOORSTEP_INFLUX_DB || 'doorstep',
      fallbackConfig: () => configOf(env),
      progress: progressTo(io.err, 'backup'),
    })
    return 0
  } catch (err) {
    io.err(`doorstep backup: ${(err as Error).message.split('\n')[0]}\n`)
    return 1
  }
}

/** `doorstep restore …`. Returns the exit code: 0 done, 1 refused or failed, 2 usage. */
export async function runRestoreCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs('restore', RESTORE_USAGE, argv, OPTIONS, io)
  if (!args.ok) return args.exit
  const { values } = args
  if (!values.from || !values['data-dir'] || values.to) {
    io.err(`doorstep restore: give --from DIR and --data-dir NEW\n\n${RESTORE_USAGE}`)
    return 2
  }
  const dataDir = path.resolve(values['data-dir'])
  try {
    const r = await restore({
      from: path.resolve(values.from),
      dataDir,
      influxRpc: values['influx-rpc'],
      influxdBin: env.DOORSTEP_INFLUXD_BIN || 'influxd',
      progress: progressTo(io.err, 'restore'),
    })
    io.out(
      `restored the backup of ${r.manifest.createdAt} into ${dataDir}\n` +
        `start the gateway with DOORSTEP_DATA_DIR=${dataDir} DOORSTEP_INFLUX_DB=${r.manifest.influx.db}` +
        ` (the config it ran with: ${path.join(path.resolve(values.from), r.manifest.generation, 'config.json')})\n`,
    )
    return 0
  } catch (err) {
    if (err instanceof DamagedBackupError) {
      io.err('doorstep restore: REFUSED\n')
      for (const p of err.problems)
        io.err(`  ${p.what === 'missing' ? 'missing' : 'damaged'}: ${p.path}: ${p.detail}\n`)
    }
    io.err(`doorstep restore: ${(err as Error).message.split('\n')[0]}\n`)
    return 1
  }
}

/** The config this command's environment describes, without secrets; empty when it does not validate. */
function configOf(env: NodeJS.ProcessEnv): Record<string, unknown> {
  try {
    return redact(loadConfig(env)) as Record<string, unknown>
  } catch {
    return {}
  }
}
