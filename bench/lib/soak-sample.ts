import fs from 'node:fs'
import path from 'node:path'
import { rssBytes, rssSplit } from './proc.js'
import { familySum, scrape } from './prom.js'

const MiB = 1024 ** 2

/** One reading of the soak, every 10 s. Memory in MiB, times in ms, `t` in minutes since the city was online. */
export interface Sample {
  t: number
  rssMiB: number
  /** RSS by kind: anonymous (V8's heap, malloc's arenas), file-backed (code, mapped files), shared (SQLite's WAL index). */
  rssAnonMiB: number
  rssFileMiB: number
  rssShmemMiB: number
  heapUsedMiB: number
  heapTotalMiB: number
  externalMiB: number
  /** The live heap: V8's used heap right after the last full GC. */
  heapAfterGcMiB: number | null
  majorGcs: number
  lagP99Ms: number
  lagMaxMs: number
  fds: number
  influxdRssMiB: number | null
  spoolBytes: number
  dataDirMiB: number
  /** The gateway's SQLite database with its WAL: what the page caches are caching. */
  dbMiB: number
  unitsOnline: number
  alertsDelivered: number
  warnLines: number
  errorLines: number
  clipsExpired: number
  clipsEvicted: number
  eventsRemoved: number
}

export interface SampleSources {
  gatewayPid: number
  influxdPid: number | null
  httpUrl: string
  token: string
  dataDir: string
  t0: number
  alerts(): number
  logLines(): { warn: number; error: number }
}

export async function takeSample(s: SampleSources): Promise<Sample> {
  const m = await scrape(s.httpUrl, s.token)
  const g = (name: string) => m.get(name) ?? Number.NaN
  const r1 = (n: number) => Math.round(n * 10) / 10
  const afterGc = m.get('doorstep_process_heap_after_gc_bytes')
  const lines = s.logLines()
  const split = rssSplit(s.gatewayPid)
  return {
    t: Math.round(((performance.now() - s.t0) / 60_000) * 1000) / 1000,
    // The process's own reading, as the kernel has it; the gauge says the same from inside.
    rssMiB: r1(rssBytes(s.gatewayPid) / MiB),
    rssAnonMiB: r1(split.anon / MiB),
    rssFileMiB: r1(split.file / MiB),
    rssShmemMiB: r1(split.shmem / MiB),
    heapUsedMiB: r1(g('doorstep_process_heap_used_bytes') / MiB),
    heapTotalMiB: r1(g('doorstep_process_heap_total_bytes') / MiB),
    externalMiB: r1(g('doorstep_process_external_bytes') / MiB),
    heapAfterGcMiB: afterGc === undefined ? null : r1(afterGc / MiB),
    majorGcs: g('doorstep_process_major_gcs'),
    lagP99Ms: r1(g('doorstep_eventloop_lag_p99_seconds') * 1000),
    lagMaxMs: r1(g('doorstep_eventloop_lag_max_seconds') * 1000),
    fds: fs.readdirSync(`/proc/${s.gatewayPid}/fd`).length,
    influxdRssMiB: s.influxdPid === null ? null : r1(rssBytes(s.influxdPid) / MiB),
    spoolBytes: g('doorstep_spool_bytes'),
    dataDirMiB: r1(dirBytes(s.dataDir) / MiB),
    dbMiB: r1(
      (fileBytes(path.join(s.dataDir, 'doorstep.db')) + fileBytes(path.join(s.dataDir, 'doorstep.db-wal'))) /
        MiB,
    ),
    unitsOnline: g('doorstep_units{state="online"}'),
    alertsDelivered: s.alerts(),
    warnLines: lines.warn,
    errorLines: lines.error,
    clipsExpired: g('doorstep_clips_removed_total{reason="retention"}'),
    clipsEvicted: g('doorstep_clips_removed_total{reason="disk"}'),
    eventsRemoved: familySum(m, 'doorstep_events_removed_total'),
  }
}

function fileBytes(file: string): number {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

/** Bytes of every file under `dir` (files that vanish while it is walked are skipped). */
export function dirBytes(dir: string): number {
  let sum = 0
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const e of entries) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) sum += dirBytes(p)
    else if (e.isFile()) {
      try {
        sum += fs.statSync(p).size
      } catch {
        // removed meanwhile (a clip evicted, a WAL checkpointed)
      }
    }
  }
  return sum
}

/** The pid of a child of `parent` whose command is `comm` (the gateway's managed influxd), or null. */
export function childPid(parent: number, comm: string): number | null {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      const open = stat.indexOf('(')
      const close = stat.lastIndexOf(')')
      const fields = stat.slice(close + 2).split(' ')
      if (stat.slice(open + 1, close) === comm && Number(fields[1]) === parent) return Number(name)
    } catch {
      // gone meanwhile
    }
  }
  return null
}
