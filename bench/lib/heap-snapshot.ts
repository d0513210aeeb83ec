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
