import { SIGNATURE_FILE } from './export.js'
import type { VerifyReport } from './verify.js'

const short = (h: string | null) => (h ? `${h.slice(0, 16)}…` : '-')

/** `doorstep verify`'s exit code: 0 pass, 1 fail, 3 consistent but not authenticated (2 is a usage error). */
export function exitCodeOf(r: VerifyReport): number {
  return r.verdict === 'pass' ? 0 : r.verdict === 'not-authenticated' ? 3 : 1
}

function signatureLines(r: VerifyReport): string[] {
  const s = r.signature
  if (!s.present) return [`  signature   NONE: ${SIGNATURE_FILE} is missing`]
  const lines = [`  signature   Ed25519, key ${s.keyFingerprint ?? '-'}`]
  if (!s.valid) lines.push('              DOES NOT MATCH the manifest (see below)')
  else lines.push('              matches the manifest: this key signed exactly this content')
  if (s.trustedBy) lines.push(`              trusted: yes, it is ${s.trustedBy}`)
  else if (r.trusted.length === 0)
    lines.push('              trusted: unknown, you named no key to trust (--key)')
  else lines.push('              trusted: NO, it is none of the keys you named')
  return lines
}

/**
 * The report for people (a court clerk among them): what was checked, a line
 * per file, the custody log, the signature and who it is by, then one verdict.
 */
export function formatReport(r: VerifyReport): string {
  const lines: string[] = [`Doorstep evidence export: ${r.file}`]
  lines.push(
    '  checks      the signature of manifest.json and who made it; the sha256 and size of every file; that no file',
    '              is missing or added; the custody log’s hash chain, ending in this export’s entry',
  )
  if (r.zipSha256)
    lines.push(`  zip sha256  ${r.zipSha256} (of the ZIP as a whole; not part of the evidence)`)
  const m = r.manifest
  if (m) {
    lines.push(`  case        ${m.case.number} (${m.case.id}): ${m.case.reason}`)
    lines.push(`  window      ${new Date(m.case.from).toISOString()} – ${new Date(m.case.to).toISOString()}`)
    lines.push(`  exported    ${new Date(m.exportedAt).toISOString()} by ${m.exportedBy}`)
    lines.push(...signatureLines(r))
    lines.push('')
    lines.push('  files (sha256 and size of each, against the manifest):')
    for (const f of r.files) {
      const tag = f.ok ? '  ok  ' : '  FAIL'
      lines.push(
        `${tag}  ${f.path}  sha256 ${short(f.sha256)}  ${f.bytes ?? '-'} bytes${f.problem ? `  — ${f.problem}` : ''}`,
      )
    }
    for (const w of m.withheld) lines.push(`  (withheld: ${w.deviceId}: ${w.reason})`)
    lines.push('')
    lines.push(
      `  custody log ${r.custody.entries} entr${r.custody.entries === 1 ? 'y' : 'ies'}, ${r.custody.ok ? 'chain intact' : 'CHAIN BROKEN'}, head ${short(r.custody.head)}`,
    )
  }
  for (const n of r.notes) lines.push(`  note: ${n}`)
  lines.push('')
  const n = r.files.length
  const e = r.custody.entries
  const files = n === 1 ? 'the 1 file matches' : `all ${n} files match`
  const counts = `${files} the signed manifest and the custody chain of ${e} entr${e === 1 ? 'y' : 'ies'} is intact`
  if (r.verdict === 'pass') {
    lines.push(`VERDICT: PASS — signed by the trusted key ${r.signature.keyFingerprint}; ${counts}.`)
  } else if (r.verdict === 'not-authenticated') {
    lines.push(
      `VERDICT: NOT AUTHENTICATED — the export is consistent (${counts}), but it is signed by key ` +
        `${r.signature.keyFingerprint}, which you have not said you trust. Pass --key with the gateway's ` +
        'fingerprint, its public key file, or its key URL to know who signed it.',
    )
  } else {
    lines.push(
      `VERDICT: FAIL — ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}; this export cannot be trusted as it is:`,
    )
    for (const p of r.problems) lines.push(`  - ${p}`)
  }
  return `${lines.join('\n')}\n`
}
