import fs from 'node:fs'
import os from 'node:os'

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ); 100 on Linux. */
const HZ = 100

/** CPU time a process has used so far (user + system), microseconds. Linux only. */
export function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) / HZ) * 1e6
}

/** Resident memory of a process, bytes. */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /VmRSS:\s+(\d+) kB/.exec(status)
  return m ? Number(m[1]) * 1024 : 0
}

export function machine(): { cpus: number; model: string; memGiB: number; node: string } {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] as number
}

/** Resident memory split as the kernel counts it: anonymous (heaps, malloc), file-backed (code, mapped files) and shared memory (SQLite's WAL index), bytes. */
export function rssSplit(pid: number): { anon: number; file: number; shmem: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
  return { anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem') }
}

/**
 * Resident bytes per mapping name from /proc/<pid>/smaps: a file's path, `[heap]` (the main malloc
 * arena), `[stack]`, or `[anon <size>]` for anonymous mappings grouped by their size (V8's spaces,
 * malloc's thread arenas of 64 MiB, mmap'd allocations), so two readings can be diffed to see which
 * kind of memory grew.
 */
export function rssByMapping(pid: number): Map<string, number> {
  const out = new Map<string, number>()
  let name = ''
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head) {
      const path = head[3] ?? ''
      if (path) name = path
      else {
        const bytes = Number.parseInt(head[2] as string, 16) - Number.parseInt(head[1] as string, 16)
        name = `[anon ${sizeClass(bytes)}]`
      }
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss) out.set(name, (out.get(name) ?? 0) + Number(rss[1]) * 1024)
  }
  return out
}

function sizeClass(bytes: number): string {
  const MiB = 1024 ** 2
  if (bytes < MiB) return '< 1 MiB'
  if (bytes < 16 * MiB) return '1-16 MiB'
  if (bytes <= 64 * MiB) return '16-64 MiB'
  return '> 64 MiB'
}

/** The mappings whose resident bytes changed most between two readings, largest change first. */
export function mappingGrowth(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  top = 12,
): Array<{ mapping: string; beforeMiB: number; afterMiB: number; deltaMiB: number }> {
  const MiB = 1024 ** 2
  const r2 = (n: number) => Math.round((n / MiB) * 100) / 100
  const names = new Set([...before.keys(), ...after.keys()])
  return [...names]
    .map((mapping) => {
      const b = before.get(mapping) ?? 0
      const a = after.get(mapping) ?? 0
      return { mapping, beforeMiB: r2(b), afterMiB: r2(a), deltaMiB: r2(a - b) }
    })
    .filter((g) => g.deltaMiB !== 0)
    .sort((x, y) => Math.abs(y.deltaMiB) - Math.abs(x.deltaMiB))
    .slice(0, top)
}
