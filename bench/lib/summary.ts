import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT } from './children.js'

/**
 * bench/README.md's tables are a summary of bench/results/: one row per commit
 * measured, each figure the median of every sample the commit's runs gave,
 * with their spread (min–max and how many). The run-by-run figures stay in
 * the results files; the tables are rebuilt from them, never edited by hand.
 */

/** What a results file says about the code it measured. */
export interface MeasuredCommit {
  /** Short hash of HEAD when the bench ran. */
  hash: string
  /** The work tree had changes not in `hash`: the row says so. */
  dirty: boolean
  /** What those changes were, added to a results file by hand after the run (its row's label). */
  note?: string
}

type Json = Record<string, unknown>

interface Figure {
  title: string
  /** Every sample one run gave for this figure (a round each, or one per run). */
  samples(run: Json): number[]
  /** Digits after the point in the table. */
  digits?: number
}

interface BenchTable {
  figures: Figure[]
  /** Runs whose every point landed; the column reads "3 of 3". */
  lossFree?(run: Json): boolean
  /** Runs of one commit at different sizes go in rows of their own, this naming the size. */
  scale?(run: Json): string
}

const num = (v: unknown): number[] => (typeof v === 'number' && Number.isFinite(v) ? [v] : [])
const at = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o)

interface IngestScenario {
  server: string
  mode: string
  round?: number
  perSecond: number
  latencyMs: { p99: number }
  serverCpuUsPerMsg: number
  landed: number
  sent: number
}

function scenarios(run: Json, mode: string, server: string): IngestScenario[] {
  const all = Array.isArray(run.results) ? (run.results as IngestScenario[]) : []
  return all.filter((r) => r.mode === mode && r.server === server)
}

/** A round's ratio pairs its two runs; files from before rounds hold one pair, round 0. */
function roundRatios(run: Json, mode: string): number[] {
  const naive = scenarios(run, mode, 'naive')
  return scenarios(run, mode, 'doorstep').flatMap((d) => {
    const n = naive.find((x) => (x.round ?? 0) === (d.round ?? 0))
    return n ? [d.perSecond / n.perSecond] : []
  })
}

const doorstep = (mode: string, pick: (s: IngestScenario) => number) => (run: Json) =>
  scenarios(run, mode, 'doorstep').map(pick)

const TABLES: Record<string, BenchTable> = {
  ingest: {
    figures: [
      { title: 'QoS 0 ratio', samples: (r) => roundRatios(r, 'qos0-heartbeats'), digits: 2 },
      { title: 'QoS 1 ratio', samples: (r) => roundRatios(r, 'qos1-events'), digits: 2 },
      { title: 'heartbeats/s', samples: doorstep('qos0-heartbeats', (s) => s.perSecond) },
      { title: 'events/s', samples: doorstep('qos1-events', (s) => s.perSecond) },
      { title: 'QoS 1 p99 ms', samples: doorstep('qos1-events', (s) => s.latencyMs.p99) },
      { title: 'µs/heartbeat', samples: doorstep('qos0-heartbeats', (s) => s.serverCpuUsPerMsg), digits: 1 },
      { title: 'µs/event', samples: doorstep('qos1-events', (s) => s.serverCpuUsPerMsg), digits: 1 },
    ],
    lossFree: (r) =>
      (Array.isArray(r.results) ? (r.results as IngestScenario[]) : [])
        .filter((s) => s.server === 'doorstep')
        .every((s) => s.landed >= s.sent),
  },
  fleet: {
    figures: [
      { title: 'city connect ms', samples: (r) => num(at(r, 'city', 'connectMs')) },
      { title: 'alert p99 ms', samples: (r) => num(at(r, 'city', 'alertLatencyMs', 'p99')) },
      { title: 'city µs/msg', samples: (r) => num(at(r, 'city', 'gatewayCpuUsPerMsg')), digits: 1 },
      { title: 'storm back ms', samples: (r) => num(at(r, 'storm', 'backMs')) },
      { title: 'big connect ms', samples: (r) => num(at(r, 'big', 'connectMs')) },
      { title: 'big connected', samples: (r) => num(at(r, 'big', 'connected')) },
      {
        title: 'big sessions dropped',
        samples: (r) => counted(at(r, 'big', 'disconnects', 'untilCounted', 'units', 'sessionEnds')),
      },
      {
        title: 'big takeovers',
        samples: (r) =>
          counted(at(r, 'big', 'disconnects', 'untilCounted', 'gateway', 'session'), 'takeover'),
      },
      { title: 'big stored p99 ms', samples: (r) => num(at(r, 'big', 'publishToStoredMs', 'p99')) },
      { title: 'memory vs aedes', samples: (r) => num(at(r, 'big', 'memoryRatio')), digits: 2 },
    ],
    lossFree: (r) => at(r, 'city', 'lossFree') !== false && at(r, 'big', 'lossFree') !== false,
  },
  'alert-paint': {
    figures: [
      { title: 'p50 ms', samples: (r) => num(at(r, 'latencyMs', 'p50')), digits: 1 },
      { title: 'p99 ms', samples: (r) => num(at(r, 'latencyMs', 'p99')), digits: 1 },
      { title: 'painted share', samples: (r) => num(Number(r.painted) / Number(r.events)), digits: 3 },
    ],
  },
  'line-protocol': {
    figures: [
      {
        title: 'writePoints µs/pt',
        samples: (r) => num(at(r, 'summary', 'writePoints', 'clientCpuUsPerPoint')),
        digits: 2,
      },
      {
        title: 'hand-built µs/pt',
        samples: (r) => num(at(r, 'summary', 'hand-built', 'clientCpuUsPerPoint')),
        digits: 2,
      },
    ],
    lossFree: (r) =>
      at(r, 'summary', 'writePoints', 'lossFree') !== false &&
      at(r, 'summary', 'hand-built', 'lossFree') !== false,
  },
  'spool-commit': {
    figures: [
      { title: '4 KiB first fifth µs', samples: (r) => fifth(r, '4096', 0), digits: 1 },
      { title: '4 KiB last fifth µs', samples: (r) => fifth(r, '4096', -1), digits: 1 },
      { title: '16 KiB first fifth µs', samples: (r) => fifth(r, '16384', 0), digits: 1 },
      { title: '16 KiB last fifth µs', samples: (r) => fifth(r, '16384', -1), digits: 1 },
    ],
    lossFree: (r) =>
      at(r, 'summary', '4096', 'allStored') !== false && at(r, 'summary', '16384', 'allStored') !== false,
  },
  'event-shipping': {
    figures: [
      {
        title: 'commit µs without outbox',
        samples: (r) => num(at(r, 'summary', 'commitUsWithout')),
        digits: 1,
      },
      {
        title: 'commit µs with outbox',
        samples: (r) => num(at(r, 'summary', 'commitUsWithOutbox')),
        digits: 1,
      },
      { title: 'outbox ×', samples: (r) => num(at(r, 'summary', 'outboxRatio')), digits: 2 },
      { title: 'shipped rows/s', samples: (r) => num(at(r, 'summary', 'shipRowsPerS')) },
      { title: 'ship µs/row', samples: (r) => num(at(r, 'summary', 'shipCpuUsPerRow')), digits: 1 },
    ],
    lossFree: (r) => at(r, 'summary', 'allStored') !== false && at(r, 'summary', 'allShipped') !== false,
  },
  cluster: {
    figures: [
      { title: 'units', samples: (r) => num(at(r, 'cluster', 'units')) },
      { title: 'gateways', samples: (r) => num(at(r, 'cluster', 'gateways')) },
      { title: 'connected', samples: (r) => num(at(r, 'cluster', 'connected')) },
      {
        title: 'connect s',
        samples: (r) => num(at(r, 'cluster', 'connectMs')).map((v) => v / 1000),
        digits: 1,
      },
      { title: 'heartbeats landed', samples: (r) => num(at(r, 'cluster', 'heartbeats', 'ratio')), digits: 4 },
      {
        title: 'cross-node alert p99 ms',
        samples: (r) => num(at(r, 'cluster', 'alertsCrossNode', 'p99MedianMs')),
      },
      { title: 'node µs/msg', samples: (r) => num(at(r, 'cluster', 'nodeCpuUsPerMsg')), digits: 1 },
      { title: 'Redis µs/msg', samples: (r) => num(at(r, 'cluster', 'redisCpuUsPerMsg')), digits: 1 },
      { title: 'single µs/msg', samples: (r) => num(at(r, 'single', 'cpuUsPerMsg')), digits: 1 },
      { title: 'routing cost ×', samples: (r) => num(at(r, 'ratios', 'routingCost')), digits: 2 },
      { title: 'node KiB/unit', samples: (r) => num(at(r, 'cluster', 'nodeKiBPerUnitMedian')), digits: 1 },
      { title: 'memory vs aedes', samples: (r) => num(at(r, 'ratios', 'memoryVsBare')), digits: 2 },
    ],
    scale: (r) => `${String(at(r, 'cluster', 'units'))}/${String(at(r, 'cluster', 'gateways'))}`,
    // Heartbeats are QoS 0 (worthless late); the cluster is held to storing what it took in.
    lossFree: (r) => (at(r, 'cluster', 'heartbeats', 'ratio') as number | undefined) === 1,
  },
  soak: {
    figures: [
      { title: 'minutes', samples: (r) => num(at(r, 'summary', 'minutes')), digits: 0 },
      { title: 'RSS MiB/min', samples: (r) => num(at(r, 'summary', 'slopes', 'rssMiB')), digits: 3 },
      {
        title: 'heap used MiB/min',
        samples: (r) => num(at(r, 'summary', 'slopes', 'heapUsedMiB')),
        digits: 3,
      },
      {
        title: 'live heap MiB/min',
        samples: (r) => num(at(r, 'summary', 'slopes', 'heapAfterGcMiB')),
        digits: 3,
      },
      { title: 'fds/min', samples: (r) => num(at(r, 'summary', 'slopes', 'fds')), digits: 2 },
      { title: 'lag p99 worst ms', samples: (r) => num(at(r, 'summary', 'lagP99MaxMs')), digits: 1 },
      { title: 'units lost', samples: (r) => num(at(r, 'summary', 'unitsLost')) },
      { title: 'error lines', samples: (r) => num(at(r, 'summary', 'errorLines')) },
      { title: 'load (1 min)', samples: (r) => num(Number(String(r.load ?? '').split(' ')[0])), digits: 1 },
    ],
    lossFree: (r) => at(r, 'summary', 'unitsLost') === 0 && at(r, 'summary', 'errorLines') === 0,
  },
  year: {
    figures: [
      {
        title: 'events in the year',
        samples: (r) => num(at(r, 'summary', 'build', 'events') ?? at(r, 'args', 'events')),
        digits: 0,
      },
      { title: 'commit µs empty', samples: (r) => num(at(r, 'summary', 'empty', 'commitUs')), digits: 1 },
      { title: 'commit µs year', samples: (r) => num(at(r, 'summary', 'year', 'commitUs')), digits: 1 },
      { title: 'year ÷ empty', samples: (r) => num(at(r, 'summary', 'ratio')), digits: 2 },
      { title: 'with moves', samples: (r) => num(at(r, 'summary', 'ratioWithMoves')), digits: 2 },
      {
        title: 'district/day p99 ms',
        samples: (r) => num(at(r, 'summary', 'queries', 'districtDay', 'p99')),
        digits: 1,
      },
      {
        title: 'radius/week p99 ms',
        samples: (r) => num(at(r, 'summary', 'queries', 'radiusWeek', 'p99')),
        digits: 1,
      },
      {
        title: 'unit/month p99 ms',
        samples: (r) => num(at(r, 'summary', 'queries', 'unitMonth', 'p99')),
        digits: 1,
      },
      {
        title: 'case p99 ms',
        samples: (r) => num(at(r, 'summary', 'queries', 'caseOpen', 'p99')),
        digits: 1,
      },
      { title: 'month drop ms', samples: (r) => num(at(r, 'summary', 'drop', 'ms')), digits: 0 },
    ],
    lossFree: (r) => at(r, 'summary', 'allStored') !== false,
  },
  'year-chart': {
    figures: [
      { title: 'points loaded', samples: (r) => num(at(r, 'load', 'points')), digits: 0 },
      { title: '7-day raw p99 ms', samples: (r) => num(at(r, 'week', 'raw', 'p99')), digits: 1 },
      {
        title: '7-day downsampled p99 ms',
        samples: (r) => num(at(r, 'week', 'downsampled', 'p99')),
        digits: 1,
      },
      { title: '29-day raw p99 ms', samples: (r) => num(at(r, 'month', 'raw', 'p99')), digits: 1 },
      {
        title: '29-day downsampled p99 ms',
        samples: (r) => num(at(r, 'month', 'downsampled', 'p99')),
        digits: 1,
      },
      {
        title: 'buckets differing',
        samples: (r) =>
          num(
            Number(at(r, 'week', 'check', 'bucketsDiffer')) +
              Number(at(r, 'month', 'check', 'bucketsDiffer')),
          ),
      },
      { title: 'load average', samples: (r) => num(at(r, 'loadavg', 'after', '0')), digits: 1 },
    ],
  },
}

/** The sum of a `{reason: count}` object (or one reason of it); nothing when the run did not count. */
function counted(v: unknown, only?: string): number[] {
  if (!v || typeof v !== 'object') return []
  const entries = Object.entries(v as Record<string, unknown>).filter(
    ([k]) => only === undefined || k === only,
  )
  return [entries.reduce((n, [, c]) => n + (typeof c === 'number' ? c : 0), 0)]
}

function fifth(run: Json, page: string, index: number): number[] {
  const v = at(run, 'summary', page, 'cpuUsPerEventByFifth')
  return Array.isArray(v) ? num(v.at(index)) : []
}

export const SUMMARISED_BENCHES = Object.keys(TABLES)

/** The commit the work tree is on, and whether it holds changes of its own. */
export function measuredCommit(): MeasuredCommit | null {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim()
    const hash = git('rev-parse', '--short=10', 'HEAD')
    // Results files are written by the runs themselves, so they do not make a tree dirty.
    const dirty =
      git('status', '--porcelain', '--', '.', ':(exclude)bench/results', ':(exclude)bench/README.md') !== ''
    return { hash, dirty }
  } catch {
    return null
  }
}

/** Files from before commits were recorded: the commit that was HEAD at the run's time. */
function inferredCommit(iso: string): string | null {
  try {
    const out = execFileSync('git', ['rev-list', '-1', `--before=${iso}`, 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    return out.trim().slice(0, 10) || null
  } catch {
    return null
  }
}

interface Run {
  at: string
  key: string
  label: string
  body: Json
}

function runsOf(bench: string): Run[] {
  const dir = path.join(ROOT, 'bench/results')
  if (!fs.existsSync(dir)) return []
  const runs: Run[] = []
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`${bench}-20`) || !name.endsWith('.json')) continue
    const body = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Json
    const when = typeof body.at === 'string' ? body.at : ''
    const c = body.commit as MeasuredCommit | undefined
    if (c && typeof c.hash === 'string') {
      // A run of changes not committed as they were measured says what they were (`note`), so that runs
      // of different changes on one commit are not summed in one row.
      const changes = c.note ? ` ${c.note}` : c.dirty ? ' + changes' : ''
      runs.push({
        at: when,
        key: `${c.hash}${c.dirty ? '+' : ''}${c.note ?? ''}`,
        label: `\`${c.hash}\`${changes}`,
        body,
      })
    } else {
      const h = inferredCommit(when)
      runs.push({ at: when, key: `~${h}`, label: h ? `≈\`${h}\`` : '?', body })
    }
  }
  return runs.sort((a, b) => a.at.localeCompare(b.at))
}

function spread(values: number[], digits: number): string {
  if (values.length === 0) return '–'
  const sorted = [...values].sort((a, b) => a - b)
  const f = (v: number) => String(Number(v.toFixed(digits)))
  const half = sorted.length >> 1
  const mid = f(
    sorted.length % 2
      ? (sorted[half] as number)
      : ((sorted[half - 1] as number) + (sorted[half] as number)) / 2,
  )
  if (sorted.length === 1) return mid
  return `${mid} (${f(sorted[0] as number)}–${f(sorted.at(-1) as number)}, n=${sorted.length})`
}

/** The table of one bench as Markdown lines, a row per commit in the order first measured. */
export function summaryTable(bench: string): string {
  const table = TABLES[bench]
  if (!table) throw new Error(`no summary for bench ${bench}`)
  const groups = new Map<string, Run[]>()
  for (const r of runsOf(bench)) {
    const key = table.scale ? `${r.key} ${table.scale(r.body)}` : r.key
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  const head = ['commit', 'runs', 'last run (UTC)', ...table.figures.map((f) => f.title)]
  if (table.lossFree) head.push('loss-free runs')
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const runs of groups.values()) {
    const last = runs.at(-1) as Run
    const cells = [last.label, String(runs.length), last.at.slice(0, 16).replace('T', ' ')]
    for (const f of table.figures)
      cells.push(
        spread(
          runs.flatMap((r) => f.samples(r.body)),
          f.digits ?? 0,
        ),
      )
    const lossFree = table.lossFree
    if (lossFree) {
      const ok = runs.filter((r) => lossFree(r.body)).length
      cells.push(ok === runs.length ? `${ok} of ${runs.length}` : `**${ok} of ${runs.length}**`)
    }
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return `${lines.join('\n')}\n`
}

/** Rebuilds one bench's table in bench/README.md, between its `results:NAME` markers. */
export function writeSummary(bench: string): void {
  const file = path.join(ROOT, 'bench/README.md')
  const text = fs.readFileSync(file, 'utf8')
  const start = `<!-- results:${bench} -->\n`
  const end = `<!-- /results:${bench} -->`
  const a = text.indexOf(start)
  const b = text.indexOf(end)
  if (a < 0 || b < a) throw new Error(`bench/README.md has no ${start.trim()} … ${end} markers`)
  fs.writeFileSync(file, text.slice(0, a + start.length) + summaryTable(bench) + text.slice(b))
}
