import fsp from 'node:fs/promises'
import path from 'node:path'
import { pino } from 'pino'
import { ManagedInfluxd } from '../influx/index.js'
import { fmtBytes } from './backup.js'
import { influxdPortable } from './influx-tool.js'
import { copyHashed, type Manifest, type Problem, readManifest, verifyFiles } from './manifest.js'
import type { Progress } from './progress.js'

export interface RestoreOptions {
  from: string
  dataDir: string
  /** The RPC address of an external InfluxDB to restore into instead of the managed one. */
  influxRpc?: string | undefined
  influxdBin: string
  progress: Progress
}

/** A backup refused before anything was written: what is wrong with which file. */
export class DamagedBackupError extends Error {
  readonly problems: Problem[]
  constructor(problems: Problem[], total: number) {
    super(
      `the backup is damaged: ${problems.length} of ${total} files missing or changed; nothing was restored`,
    )
    this.problems = problems
  }
}

export interface RestoreSummary {
  manifest: Manifest
  files: number
  bytes: number
  influx: boolean
}

/**
 * Restores a backup into a new, empty data dir. Every file is checked
 * against the manifest before anything is written; a damaged backup is
 * refused whole. The InfluxDB part goes through a managed influxd started on
 * the new data dir for the length of the restore (or the external one named
 * by `influxRpc`); the gateway started on the data dir afterwards finds it.
 */
export async function restore(o: RestoreOptions): Promise<RestoreSummary> {
  const { from, dataDir, progress } = o
  const m = await readManifest(from)
  if (!m) throw new Error(`${from} holds no manifest.json: not a Doorstep backup`)
  const entries = await fsp.readdir(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return []
    throw err
  })
  if (entries.length > 0) {
    throw new Error(`${dataDir} is not empty; restore only into a new data dir`)
  }

  progress.line(`checking ${m.files.length} files of the backup of ${m.createdAt}`)
  const problems = await verifyFiles(from, m, (done, bytes) =>
    progress.tick(`checked ${done}/${m.files.length} files, ${fmtBytes(bytes)}`),
  )
  if (problems.length > 0) throw new DamagedBackupError(problems, m.files.length)
  progress.line('every file matches its sha256')

  await fsp.mkdir(dataDir, { recursive: true })
  let files = 0
  let bytes = 0
  for (const f of m.files) {
    if (!f.target) continue
    const dest = path.join(dataDir, f.target)
    // Hashed again on the way: a file changed since the check must not slip in.
    const r = await copyHashed(
      path.join(from, f.path),
      dest,
      f.mode === undefined ? undefined : f.mode & 0o700,
    )
    if (r.sha256 !== f.sha256) throw new Error(`${f.path} changed during the restore; start again`)
    if (f.mode !== undefined) await fsp.chmod(dest, f.mode)
    files++
    bytes += r.bytes
    progress.tick(`restored ${files} files, ${fmtBytes(bytes)}`)
  }
  progress.line(`restored ${files} files (${fmtBytes(bytes)}) into ${dataDir}`)

  const influxDir = path.join(from, m.generation, 'influx')
  if (m.influx.included && !(await influxHasShards(influxDir))) {
    // influxd 1.6 refuses a portable restore of a database without shards ("metadata not changed");
    // there is nothing in it to restore, and the gateway makes the database and its policies at start.
    progress.line(`influxdb: database ${m.influx.db} held no data yet; the gateway creates it at start`)
  } else if (m.influx.included) {
    const dir = influxDir
    let temp: ManagedInfluxd | null = null
    let rpc = o.influxRpc ?? null
    try {
      if (!rpc) {
        temp = new ManagedInfluxd({
          dataDir: path.join(dataDir, 'influxdb'),
          bin: o.influxdBin,
          log: pino({ level: 'error' }, pino.destination(2)),
        })
        await temp.start()
        rpc = temp.rpcAddress
      }
      if (!rpc) throw new Error('the managed influxd did not report its RPC address')
      await influxdPortable(o.influxdBin, 'restore', rpc, m.influx.db, dir)
    } finally {
      await temp?.stop()
    }
    progress.line(`influxdb: database ${m.influx.db} restored${o.influxRpc ? ` into ${o.influxRpc}` : ''}`)
  } else {
    progress.line(`influxdb: not in this backup${m.influx.note ? ` (${m.influx.note})` : ''}`)
  }
  return { manifest: m, files, bytes, influx: m.influx.included }
}

/** Whether the `influxd backup -portable` set lists any shard file (its `.manifest` is JSON). */
async function influxHasShards(dir: string): Promise<boolean> {
  for (const name of await fsp.readdir(dir)) {
    if (!name.endsWith('.manifest')) continue
    const m = JSON.parse(await fsp.readFile(path.join(dir, name), 'utf8')) as { files?: unknown[] | null }
    if (Array.isArray(m.files) && m.files.length > 0) return true
  }
  return false
}
