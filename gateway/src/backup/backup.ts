import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { pino } from 'pino'
import { ManagedInfluxd } from '../influx/index.js'
import { influxdPortable } from './influx-tool.js'
import {
  copyHashed,
  MANIFEST_FORMAT,
  type Manifest,
  type ManifestFile,
  readManifest,
  sha256File,
  writeManifest,
} from './manifest.js'
import type { Progress } from './progress.js'
import { isRunning, type RunState, readRunState } from './run-state.js'
import { DATABASES, KEY_DIRS, STORES, storedFiles, walk } from './sources.js'

export interface BackupOptions {
  dataDir: string
  to: string
  /** The RPC address of an external InfluxDB to back up with `influxd backup -portable`. */
  influxRpc?: string | undefined
  /** influxd binary and InfluxDB database, when no gateway's state file says which. */
  influxdBin: string
  influxDb: string
  /** The config to record when no running gateway wrote its own (already without secrets). */
  fallbackConfig: () => Record<string, unknown>
  progress: Progress
}

export interface BackupSummary {
  files: number
  bytes: number
  copiedBytes: number
  clipsCopied: number
  clipsUnchanged: number
  influx: boolean
}

/**
 * One backup of a data dir into `to`, while the gateway runs or not. Order
 * matters: the databases first, then the clips, then InfluxDB. An event
 * accepted before the backup started is either still in the spool table of
 * the database snapshot, or was written to InfluxDB before the snapshot and
 * so is in the InfluxDB backup taken after it (see README "What a backup
 * holds"). Each backup's snapshot files go to a new folder; the manifest,
 * written last, switches to it; the previous folder goes only after that.
 */
export async function backup(o: BackupOptions): Promise<BackupSummary> {
  const { dataDir, to, progress } = o
  if (!fs.existsSync(path.join(dataDir, 'doorstep.db'))) {
    throw new Error(`no gateway database at ${path.join(dataDir, 'doorstep.db')} (pass --data-dir)`)
  }
  const inside = path.relative(dataDir, to)
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
    throw new Error(`${to} is inside the data dir; choose a folder outside it`)
  }
  // The backup holds keys and the hashes of every secret: a new backup folder is its owner's alone.
  await fsp.mkdir(to, { recursive: true, mode: 0o700 })
  const prev = await readManifest(to)
  if (!prev && (await fsp.readdir(to)).length > 0) {
    throw new Error(`${to} is not empty and holds no Doorstep backup (no manifest.json); choose another --to`)
  }
  const state = readRunState(dataDir)
  const running = state !== null && isRunning(state)
  // Never the previous backup's folder: that one stays whole until the new manifest is in place.
  let generation = `snap-${new Date().toISOString().replace(/[-:.]/g, '')}`
  if (generation === prev?.generation) generation += '-2'
  const gen = path.join(to, generation)
  await fsp.rm(gen, { recursive: true, force: true })
  const files: ManifestFile[] = []
  const summary: BackupSummary = {
    files: 0,
    bytes: 0,
    copiedBytes: 0,
    clipsCopied: 0,
    clipsUnchanged: 0,
    influx: false,
  }
  const add = (f: ManifestFile, copied: boolean) => {
    files.push(f)
    summary.files++
    summary.bytes += f.bytes
    if (copied) summary.copiedBytes += f.bytes
  }

  // 1. Databases: a consistent snapshot each, while the gateway keeps writing.
  for (const name of DATABASES) {
    const src = path.join(dataDir, name)
    if (!fs.existsSync(src)) continue
    const rel = `${generation}/sqlite/${name}`
    const dest = path.join(to, rel)
    await fsp.mkdir(path.dirname(dest), { recursive: true })
    const pages = await snapshotSqlite(src, dest)
    const bytes = (await fsp.stat(dest)).size
    add({ path: rel, kind: 'sqlite', target: name, bytes, sha256: await sha256File(dest) }, true)
    progress.line(`databases: ${name}: ${pages} pages, ${fmtBytes(bytes)}`)
  }

  // 2. Keys, with their permissions.
  for (const dir of KEY_DIRS) {
    for (const rel of await walk(path.join(dataDir, dir))) {
      const src = path.join(dataDir, dir, rel)
      const bpath = `${generation}/keys/${dir}/${rel}`
      const mode = (await fsp.stat(src)).mode & 0o777
      const { sha256, bytes } = await copyHashed(src, path.join(to, bpath), mode & 0o700)
      await fsp.chmod(path.join(to, bpath), mode)
      add({ path: bpath, kind: 'key', target: `${dir}/${rel}`, bytes, sha256, mode }, true)
    }
  }
  progress.line(`keys: ${files.filter((f) => f.kind === 'key').length} files (${KEY_DIRS.join('/, ')}/)`)

  // 3. The config the gateway runs with, secrets left out.
  const configRel = `${generation}/config.json`
  const config = {
    source: running ? 'running gateway' : state ? 'last gateway start' : 'environment of this command',
    ...(state ? { startedAt: state.startedAt, influx: state.influx, config: state.config } : {}),
    ...(state ? {} : { config: o.fallbackConfig() }),
  }
  await fsp.writeFile(path.join(to, configRel), `${JSON.stringify(config, null, 2)}\n`)
  add(
    {
      path: configRel,
      kind: 'config',
      bytes: (await fsp.stat(path.join(to, configRel))).size,
      sha256: await sha256File(path.join(to, configRel)),
    },
    true,
  )

  // 4. Clips and pulled footage: content-addressed, so a file already in the backup is not copied again.
  const before = new Map((prev?.files ?? []).map((f) => [f.path, f]))
  for (const store of STORES) {
    const names = await storedFiles(path.join(dataDir, store.dir))
    let copied = 0
    let unchanged = 0
    let gone = 0
    let bytes = 0
    for (const rel of names) {
      const bpath = `${store.dir}/${rel}`
      const src = path.join(dataDir, store.dir, rel)
      const dest = path.join(to, bpath)
      let size: number
      try {
        size = (await fsp.stat(src)).size
      } catch {
        gone++ // removed by retention since the walk
        continue
      }
      const had = before.get(bpath)
      const destSize = await fsp.stat(dest).then(
        (s) => s.size,
        () => -1,
      )
      if (had && had.bytes === size && destSize === size) {
        add({ ...had, kind: store.kind, target: bpath }, false)
        unchanged++
      } else {
        try {
          const r = await copyHashed(src, dest)
          add({ path: bpath, kind: store.kind, target: bpath, bytes: r.bytes, sha256: r.sha256 }, true)
          copied++
          bytes += r.bytes
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
          gone++
        }
      }
      progress.tick(`${store.dir}: ${copied + unchanged}/${names.length} files, ${fmtBytes(bytes)} copied`)
    }
    summary.clipsCopied += copied
    summary.clipsUnchanged += unchanged
    progress.line(
      `${store.dir}: ${copied + unchanged} files: ${copied} copied (${fmtBytes(bytes)}), ${unchanged} unchanged${gone ? `, ${gone} removed by retention meanwhile` : ''}`,
    )
  }

  // 5. InfluxDB, after the databases (see above).
  const influx = await backupInflux(o, state, running, generation)
  for (const f of influx.files) add(f, true)
  summary.influx = influx.included
  progress.line(
    influx.included ? `influxdb: ${influx.files.length} files` : `influxdb: skipped. ${influx.note}`,
  )

  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    createdAt: new Date().toISOString(),
    source: { host: os.hostname(), dataDir, gatewayRunning: running },
    generation,
    influx: { included: influx.included, db: influx.db, ...(influx.note ? { note: influx.note } : {}) },
    files,
  }
  await writeManifest(to, manifest)
  await prune(to, manifest)
  progress.line(
    `done: ${summary.files} files, ${fmtBytes(summary.bytes)} (${fmtBytes(summary.copiedBytes)} copied) in ${to}`,
  )
  return summary
}

/**
 * SQLite's online backup API from a read-only connection: the copy is the
 * database as of one transaction, whatever the gateway writes meanwhile
 * (WAL mode lets it go on). A write between two steps restarts the copy, so
 * after the first step the rest goes in one step, under one read snapshot.
 */
export async function snapshotSqlite(src: string, dest: string): Promise<number> {
  const db = new Database(src, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    const tmp = `${dest}.tmp-${process.pid}`
    const r = await db.backup(tmp, { progress: () => 2 ** 30 })
    // One file, not a WAL pair: the snapshot stands alone.
    const snap = new Database(tmp)
    snap.pragma('journal_mode = DELETE')
    snap.close()
    await fsp.rename(tmp, dest)
    return r.totalPages
  } finally {
    db.close()
  }
}

async function backupInflux(
  o: BackupOptions,
  state: RunState | null,
  running: boolean,
  generation: string,
): Promise<{ included: boolean; db: string; note?: string; files: ManifestFile[] }> {
  const db = state?.influx.db ?? o.influxDb
  const bin = state?.influx.bin ?? o.influxdBin
  const rel = `${generation}/influx`
  const dir = path.join(o.to, rel)
  const managed = state ? state.influx.managed : !o.influxRpc
  let temp: ManagedInfluxd | null = null
  let rpc = o.influxRpc ?? null
  if (!rpc && managed) {
    if (running && state?.influx.rpcAddress) rpc = state.influx.rpcAddress
    else if (fs.existsSync(path.join(o.dataDir, 'influxdb', 'meta'))) {
      // No gateway runs: start its influxd on its own data for the length of the backup. Unless one
      // is there already (a gateway still starting): two on one data dir would stop each other.
      if (influxdRuns(path.join(o.dataDir, 'influxdb', 'influxd.pid'))) {
        throw new Error(
          'an influxd runs on this data dir, but no running gateway has announced itself yet; try again once it is up',
        )
      }
      temp = new ManagedInfluxd({
        dataDir: path.join(o.dataDir, 'influxdb'),
        bin,
        log: pino({ level: 'error' }, pino.destination(2)),
      })
      await temp.start()
      rpc = temp.rpcAddress
    } else return { included: false, db, note: 'the data dir has no InfluxDB data', files: [] }
  }
  if (!rpc) {
    return {
      included: false,
      db,
      note: `InfluxDB is external (${state?.influx.url ?? 'DOORSTEP_INFLUX_URL'}): pass --influx-rpc HOST:PORT (its RPC bind-address) or back it up with \`influxd backup -portable -db ${db} -host HOST:PORT DIR\``,
      files: [],
    }
  }
  try {
    await fsp.mkdir(dir, { recursive: true })
    await influxdPortable(bin, 'backup', rpc, db, dir)
  } finally {
    await temp?.stop()
  }
  const files: ManifestFile[] = []
  for (const name of await walk(dir)) {
    const p = path.join(dir, name)
    files.push({
      path: `${rel}/${name}`,
      kind: 'influx',
      bytes: (await fsp.stat(p)).size,
      sha256: await sha256File(p),
    })
  }
  return { included: true, db, files }
}

function influxdRuns(pidfile: string): boolean {
  try {
    process.kill(Number.parseInt(fs.readFileSync(pidfile, 'utf8'), 10), 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes what the new manifest no longer lists: the previous snapshot folder, clips retention removed. */
async function prune(to: string, m: Manifest): Promise<void> {
  const listed = new Set(m.files.map((f) => f.path))
  for (const e of await fsp.readdir(to, { withFileTypes: true })) {
    if (e.isDirectory() && e.name.startsWith('snap-') && e.name !== m.generation) {
      await fsp.rm(path.join(to, e.name), { recursive: true, force: true })
    }
  }
  for (const store of STORES) {
    for (const rel of await walk(path.join(to, store.dir))) {
      if (!listed.has(`${store.dir}/${rel}`)) await fsp.rm(path.join(to, store.dir, rel), { force: true })
    }
  }
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}
