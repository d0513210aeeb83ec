import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** `influxd backup` and `restore` of a big database take minutes; a hung RPC must still end. */
const TIMEOUT_MS = 60 * 60 * 1000

/**
 * Runs `influxd backup|restore -portable` against an influxd's RPC listener
 * (`bind-address`, not its HTTP port). Throws one line with influxd's last
 * words when it fails.
 */
export async function influxdPortable(
  bin: string,
  op: 'backup' | 'restore',
  rpcAddress: string,
  db: string,
  dir: string,
): Promise<void> {
  try {
    await run(bin, [op, '-portable', '-host', rpcAddress, '-db', db, dir], {
      timeout: TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') throw new Error(`"${bin}" was not found (needed for the InfluxDB ${op})`)
    const last = (e.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? e.message
    throw new Error(
      `influxd ${op} ${op === 'backup' ? 'from' : 'into'} ${rpcAddress} failed: ${last.replace(/^\S+ \S+\s+/, '')}`,
    )
  }
}
