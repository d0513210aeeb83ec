import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { snapshotSqlite } from './backup.js'
import { MANIFEST_FORMAT, type Manifest, type ManifestFile, sha256File, writeManifest } from './manifest.js'
import { DATABASES } from './sources.js'

/** The bytes the data dir's databases take now, their write-ahead logs included: a snapshot is at most that. */
export function databaseBytes(dataDir: string): number {
  let bytes = 0
  for (const name of DATABASES) {
    for (const f of [name, `${name}-wal`]) {
      try {
        bytes += fs.statSync(path.join(dataDir, f)).size
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
  }
  return bytes
}

/**
 * A backup of the data dir's databases alone, in the layout and with the manifest of
 * `doorstep backup`, so that `doorstep restore` checks every file and restores it. It is what
 * the gateway takes before it upgrades a schema: an upgrade changes only the databases, and
 * clips, keys and InfluxDB stay where they are. `to` must be new (or empty); nothing is running
 * on the databases yet, so each snapshot is taken in one step.
 */
export async function backupDatabases(o: {
  dataDir: string
  to: string
  /** The InfluxDB database the gateway uses, recorded for restore's report. */
  influxDb: string
  /** Why this backup was taken, for whoever finds it later. */
  note: string
}): Promise<{ manifest: Manifest; bytes: number }> {
  // The databases hold the hashes of every secret: the folder is the gateway's user's alone.
  await fsp.mkdir(o.to, { recursive: true, mode: 0o700 })
  if ((await fsp.readdir(o.to)).length > 0) throw new Error(`${o.to} is not empty`)
  const generation = `snap-${new Date().toISOString().replace(/[-:.]/g, '')}`
  const files: ManifestFile[] = []
  let bytes = 0
  for (const name of DATABASES) {
    const src = path.join(o.dataDir, name)
    if (!fs.existsSync(src)) continue
    const rel = `${generation}/sqlite/${name}`
    const dest = path.join(o.to, rel)
    await fsp.mkdir(path.dirname(dest), { recursive: true })
    await snapshotSqlite(src, dest)
    const size = (await fsp.stat(dest)).size
    files.push({ path: rel, kind: 'sqlite', target: name, bytes: size, sha256: await sha256File(dest) })
    bytes += size
  }
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    createdAt: new Date().toISOString(),
    source: { host: os.hostname(), dataDir: o.dataDir, gatewayRunning: false },
    generation,
    influx: { included: false, db: o.influxDb, note: o.note },
    files,
  }
  await writeManifest(o.to, manifest)
  return { manifest, bytes }
}
