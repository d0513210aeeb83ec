import fs from 'node:fs'
import path from 'node:path'

/**
 * Heap snapshots of a running gateway, taken by signal: the gateway runs with
 * `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR`, so a SIGUSR2 makes it
 * write `DIR/Heap.<date>.<pid>....heapsnapshot` (the event loop stops while it
 * does). Summaries group the nodes as the DevTools "constructor" view does.
 */

/** Sends the signal and resolves with the new snapshot's path once it is written whole. */
export async function takeSnapshot(pid: number, dir: string, timeoutMs = 300_000): Promise<string> {
  const before = new Set(snapshotsIn(dir))
  process.kill(pid, 'SIGUSR2')
  const end = Date.now() + timeoutMs
  let file: string | undefined
  let lastSize = -1
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1000))
    file ??= snapshotsIn(dir).find((f) => !before.has(f))
    if (!file) continue
    const size = fs.statSync(file).size
    // Written as one JSON document: whole when it stopped growing and ends its outer object.
    if (size > 0 && size === lastSize && endsWhole(file, size)) return file
    lastSize = size
  }
  throw new Error(`no heap snapshot from pid ${pid} in ${dir} within ${timeoutMs} ms`)
}

function snapshotsIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.heapsnapshot'))
    .map((f) => path.join(dir, f))
}

function endsWhole(file: string, size: number): boolean {
  const fd = fs.openSync(file, 'r')
  try {
    const n = Math.min(64, size)
    const buf = Buffer.alloc(n)
    fs.readSync(fd, buf, 0, n, size - n)
    return /\]\s*\}\s*$/.test(buf.toString('utf8'))
  } finally {
    fs.closeSync(fd)
  }
}

/** Objects per constructor (or kind, for strings, arrays, code and the like): how many and their own bytes. */
export type HeapSummary = Map<string, { count: number; selfBytes: number }>

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

export function summarise(file: string): HeapSummary {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as SnapshotJson
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const out: HeapSummary = new Map()
  const { nodes, strings } = snap
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] ?? '?'
    const name = strings[nodes[i + nameAt] as number] ?? '?'
    const key = groupOf(type, name)
    const e = out.get(key) ?? { count: 0, selfBytes: 0 }
    e.count++
    e.selfBytes += nodes[i + sizeAt] as number
    out.set(key, e)
  }
  return out
}

function groupOf(type: string, name: string): string {
  if (type === 'object' || type === 'native') return name
  if (type === 'closure') return '(closure)'
  if (type.endsWith('string')) return '(string)'
  if (type === 'code') return '(compiled code)'
  if (type === 'synthetic') return '(system)'
  // Shapes and V8's internal objects are named by what they are for ("system / Map", "(Object map)"…):
  // kept apart, so a growth among them says which kind grew.
  if (type === 'object shape' || type === 'hidden') return `(${type}) ${name.slice(0, 60)}`
  return `(${type})`
}

export interface Growth {
  name: string
  countBefore: number
  countAfter: number
  bytesBefore: number
  bytesAfter: number
}

/** What grew from one summary to the next, most bytes first. */
export function growth(before: HeapSummary, after: HeapSummary, top = 25): Growth[] {
  const rows: Growth[] = []
  for (const [name, a] of after) {
    const b = before.get(name) ?? { count: 0, selfBytes: 0 }
    if (a.selfBytes <= b.selfBytes && a.count <= b.count) continue
    rows.push({
      name,
      countBefore: b.count,
      countAfter: a.count,
      bytesBefore: b.selfBytes,
      bytesAfter: a.selfBytes,
    })
  }
  return rows.sort((x, y) => y.bytesAfter - y.bytesBefore - (x.bytesAfter - x.bytesBefore)).slice(0, top)
}

export function growthTable(rows: readonly Growth[]): string {
  const kib = (n: number) => (n / 1024).toFixed(1)
  const lines = [
    'constructor | count before → after | Δ count | own KiB before → after | Δ KiB',
    '---|---|---|---|---',
  ]
  for (const r of rows)
    lines.push(
      `${r.name} | ${r.countBefore} → ${r.countAfter} | ${r.countAfter - r.countBefore} | ${kib(r.bytesBefore)} → ${kib(r.bytesAfter)} | ${kib(r.bytesAfter - r.bytesBefore)}`,
    )
  return lines.join('\n')
}

interface FullSnapshotJson extends SnapshotJson {
  snapshot: {
    meta: {
      node_fields: string[]
      node_types: [string[], ...unknown[]]
      edge_fields: string[]
      edge_types: [string[], ...unknown[]]
    }
  }
  edges: number[]
}

export interface Allocated {
  name: string
  count: number
  selfBytes: number
  /** What holds them: the groups of the objects with a strong edge to them, by how many edges. */
  retainers: Array<[string, number]>
}

/**
 * Objects in the second snapshot that were not in the first (node ids are stable within one process),
 * still alive, grouped, with what retains them: the "allocated between snapshots" view.
 */
export function allocatedBetween(beforeFile: string, afterFile: string, top = 25): Allocated[] {
  const before = JSON.parse(fs.readFileSync(beforeFile, 'utf8')) as FullSnapshotJson
  const bf = before.snapshot.meta.node_fields
  const bIdAt = bf.indexOf('id')
  const oldIds = new Set<number>()
  for (let i = 0; i < before.nodes.length; i += bf.length) oldIds.add(before.nodes[i + bIdAt] as number)
  const snap = JSON.parse(fs.readFileSync(afterFile, 'utf8')) as FullSnapshotJson
  const meta = snap.snapshot.meta
  const nf = meta.node_fields
  const w = nf.length
  const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ['type', 'name', 'id', 'self_size', 'edge_count'].map(
    (f) => nf.indexOf(f),
  ) as [number, number, number, number, number]
  const ef = meta.edge_fields
  const ew = ef.length
  const edgeTypeAt = ef.indexOf('type')
  const toAt = ef.indexOf('to_node')
  const weak = meta.edge_types[0].indexOf('weak')
  const types = meta.node_types[0]
  const { nodes, edges, strings } = snap
  const group = (i: number) =>
    groupOf(types[nodes[i + typeAt] as number] ?? '?', strings[nodes[i + nameAt] as number] ?? '?')
  const out = new Map<string, { count: number; selfBytes: number; retainers: Map<string, number> }>()
  for (let i = 0; i < nodes.length; i += w) {
    if (oldIds.has(nodes[i + idAt] as number)) continue
    const g = group(i)
    const e = out.get(g) ?? { count: 0, selfBytes: 0, retainers: new Map() }
    e.count++
    e.selfBytes += nodes[i + sizeAt] as number
    out.set(g, e)
  }
  let edge = 0
  for (let i = 0; i < nodes.length; i += w) {
    const n = nodes[i + edgeCountAt] as number
    let from: string | null = null
    for (let k = 0; k < n; k++, edge += ew) {
      if (edges[edge + edgeTypeAt] === weak) continue
      const to = edges[edge + toAt] as number
      if (oldIds.has(nodes[to + idAt] as number)) continue
      from ??= group(i)
      const target = out.get(group(to))
      if (target) target.retainers.set(from, (target.retainers.get(from) ?? 0) + 1)
    }
  }
  return [...out.entries()]
    .map(([name, e]) => ({
      name,
      count: e.count,
      selfBytes: e.selfBytes,
      retainers: [...e.retainers.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4),
    }))
    .sort((a, b) => b.selfBytes - a.selfBytes)
    .slice(0, top)
}

export function allocatedTable(rows: readonly Allocated[]): string {
  const lines = [
    'new since the first snapshot, still alive | count | own KiB | held by (edges)',
    '---|---|---|---',
  ]
  for (const r of rows)
    lines.push(
      `${r.name} | ${r.count} | ${(r.selfBytes / 1024).toFixed(1)} | ${r.retainers.map(([g, n]) => `${g} ${n}`).join(', ')}`,
    )
  return lines.join('\n')
}
