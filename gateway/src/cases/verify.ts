import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { CustodyEntry, Manifest } from '@doorstep/proto'
import yauzl from 'yauzl'
import { canonicalJson, type Link, sha256Hex, verifyChain } from '../audit/index.js'
import { CUSTODY_FILE, MANIFEST_FILE } from './export.js'

/** What `doorstep verify` found in an export. */
export interface VerifyReport {
  ok: boolean
  file: string
  zipSha256: string | null
  manifest: Manifest | null
  files: Array<{
    path: string
    ok: boolean
    sha256: string | null
    bytes: number | null
    problem: string | null
  }>
  custody: { entries: number; head: string | null; ok: boolean }
  problems: string[]
}

/** manifest.json and custody.jsonl are read into memory; no honest export comes near this. */
const MAX_META_BYTES = 64 * 1024 * 1024

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

interface Seen {
  sha256: string
  bytes: number
  data: Buffer | null
}

/** Reads every entry of the ZIP, hashing each; keeps the bytes of the two metadata files. */
async function readZip(file: string, problems: string[]): Promise<Map<string, Seen>> {
  const seen = new Map<string, Seen>()
  const zip = await yauzl.openPromise(file, {
    lazyEntries: true,
    validateEntrySizes: true,
    strictFileNames: true,
  })
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue
      if (seen.has(entry.fileName)) {
        problems.push(`${entry.fileName}: appears twice in the ZIP`)
        continue
      }
      const keep = entry.fileName === MANIFEST_FILE || entry.fileName === CUSTODY_FILE
      if (keep && entry.uncompressedSize > MAX_META_BYTES) {
        problems.push(`${entry.fileName}: too large to be an export's (${entry.uncompressedSize} bytes)`)
        continue
      }
      const h = createHash('sha256')
      const chunks: Buffer[] = []
      let bytes = 0
      for await (const chunk of await zip.openReadStreamPromise(entry)) {
        const b = chunk as Buffer
        h.update(b)
        bytes += b.length
        if (keep) chunks.push(b)
      }
      seen.set(entry.fileName, { sha256: h.digest('hex'), bytes, data: keep ? Buffer.concat(chunks) : null })
    }
  } finally {
    zip.close()
  }
  return seen
}

function parseCustody(data: Buffer, problems: string[]): CustodyEntry[] {
  const out: CustodyEntry[] = []
  const lines = data.toString('utf8').split('\n')
  lines.forEach((line, i) => {
    if (line.trim() === '') return
    let raw: unknown
    try {
      raw = JSON.parse(line)
    } catch {
      problems.push(`${CUSTODY_FILE} line ${i + 1}: not JSON`)
      return
    }
    const r = CustodyEntry.safeParse(raw)
    if (!r.success)
      problems.push(`${CUSTODY_FILE} line ${i + 1}: not a custody entry (${r.error.issues[0]?.message})`)
    // Hash the entry as written, not as the schema would reshape it.
    else out.push(raw as CustodyEntry)
  })
  return out
}

/**
 * Checks an evidence export on its own, without the gateway: every file's
 * sha256 and size against `manifest.json`, no file missing or unlisted, the
 * custody log's hash chain, and that the chain ends in this export's entry,
 * whose `filesDigest` binds the manifest's file list.
 */
export async function verifyExport(file: string): Promise<VerifyReport> {
  const problems: string[] = []
  const report: VerifyReport = {
    ok: false,
    file,
    zipSha256: null,
    manifest: null,
    files: [],
    custody: { entries: 0, head: null, ok: false },
    problems,
  }
  try {
    report.zipSha256 = await hashFile(file)
  } catch (err) {
    problems.push(`cannot read the file: ${(err as Error).message}`)
    return report
  }
  let seen: Map<string, Seen>
  try {
    seen = await readZip(file, problems)
  } catch (err) {
    problems.push(`the ZIP is damaged or not a ZIP: ${(err as Error).message}`)
    return report
  }

  const m = seen.get(MANIFEST_FILE)
  if (!m?.data) {
    problems.push(`${MANIFEST_FILE} is missing`)
    return report
  }
  let manifest: Manifest
  try {
    const parsed = Manifest.safeParse(JSON.parse(m.data.toString('utf8')))
    if (!parsed.success) {
      problems.push(`${MANIFEST_FILE} is not a Doorstep manifest: ${parsed.error.issues[0]?.message}`)
      return report
    }
    manifest = parsed.data
  } catch {
    problems.push(`${MANIFEST_FILE} is not JSON`)
    return report
  }
  report.manifest = manifest

  const listed = new Set<string>()
  for (const f of manifest.files) {
    listed.add(f.path)
    const s = seen.get(f.path)
    let problem: string | null = null
    if (!s) problem = 'missing from the ZIP'
    else if (s.sha256 !== f.sha256) problem = `sha256 is ${s.sha256}, the manifest says ${f.sha256}`
    else if (s.bytes !== f.bytes) problem = `${s.bytes} bytes, the manifest says ${f.bytes}`
    if (problem) problems.push(`${f.path}: ${problem}`)
    report.files.push({
      path: f.path,
      ok: problem === null,
      sha256: s?.sha256 ?? null,
      bytes: s?.bytes ?? null,
      problem,
    })
  }
  for (const name of seen.keys()) {
    if (!listed.has(name) && name !== MANIFEST_FILE && name !== CUSTODY_FILE) {
      problems.push(`${name}: in the ZIP but not in the manifest`)
    }
  }

  const c = seen.get(manifest.custody.file)
  if (!c?.data) {
    problems.push(`${manifest.custody.file} (the custody log) is missing`)
  } else {
    const before = problems.length
    const entries = parseCustody(c.data, problems)
    const chain = verifyChain(entries as unknown as Link[])
    report.custody = { entries: chain.entries, head: chain.head, ok: false }
    for (const p of chain.problems) problems.push(`custody log entry ${p.seq}: ${p.problem}`)
    for (const e of entries) {
      if (e.caseId !== manifest.case.id) problems.push(`custody log entry ${e.seq}: belongs to another case`)
    }
    if (chain.entries !== manifest.custody.entries) {
      problems.push(`custody log has ${chain.entries} entries, the manifest says ${manifest.custody.entries}`)
    }
    if (chain.head !== manifest.custody.head) {
      problems.push(`custody log ends in ${chain.head}, the manifest says ${manifest.custody.head}`)
    }
    const last = entries.at(-1)
    if (last?.action !== 'case.exported') {
      problems.push('custody log does not end with this export (case.exported)')
    } else if (last.details.filesDigest !== sha256Hex(canonicalJson(manifest.files))) {
      problems.push('the manifest’s file list is not the one the custody log recorded for this export')
    }
    report.custody.ok = problems.length === before
  }
  report.ok = problems.length === 0
  return report
}

const short = (h: string | null) => (h ? `${h.slice(0, 16)}…` : '-')

/** The report for people: a line per file, the custody log, then one verdict line. */
export function formatReport(r: VerifyReport): string {
  const lines: string[] = [`Doorstep evidence export: ${r.file}`]
  if (r.zipSha256) lines.push(`  zip sha256  ${r.zipSha256}`)
  const m = r.manifest
  if (m) {
    lines.push(`  case        ${m.case.number} (${m.case.id}): ${m.case.reason}`)
    lines.push(`  window      ${new Date(m.case.from).toISOString()} – ${new Date(m.case.to).toISOString()}`)
    lines.push(`  exported    ${new Date(m.exportedAt).toISOString()} by ${m.exportedBy}`)
    lines.push('')
    for (const f of r.files) {
      const tag = f.ok ? '  ok  ' : '  FAIL'
      lines.push(
        `${tag}  ${f.path}  sha256 ${short(f.sha256)}  ${f.bytes ?? '-'} bytes${f.problem ? `  — ${f.problem}` : ''}`,
      )
    }
    for (const w of m.withheld) lines.push(`  (withheld: ${w.deviceId}: ${w.reason})`)
    lines.push('')
    lines.push(
      `  custody log ${r.custody.entries} entries, ${r.custody.ok ? 'chain intact' : 'CHAIN BROKEN'}, head ${short(r.custody.head)}`,
    )
  }
  lines.push('')
  if (r.ok) {
    lines.push(
      `VERDICT: PASS — all ${r.files.length} files match manifest.json and the custody chain of ${r.custody.entries} entries is intact.`,
    )
  } else {
    lines.push(
      `VERDICT: FAIL — ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}; this export cannot be trusted as it is:`,
    )
    for (const p of r.problems) lines.push(`  - ${p}`)
  }
  return `${lines.join('\n')}\n`
}
