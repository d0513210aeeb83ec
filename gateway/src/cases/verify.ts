import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { CustodyEntry, Manifest, ManifestSignature } from '@doorstep/proto'
import yauzl from 'yauzl'
import { canonicalJson, type Link, sha256Hex, verifyChain } from '../audit/index.js'
import { fingerprintOf, publicKeyFromPem, verifyBytes } from '../evidence/index.js'
import { CUSTODY_FILE, MANIFEST_FILE, SIGNATURE_FILE } from './export.js'
import type { TrustedKey } from './trust.js'

/**
 * `pass`: consistent and signed by a key the verifier trusts. `not-authenticated`:
 * consistent and signed, but by no key the verifier named (none was named, or
 * the gateway's key URL did not answer). `fail`: anything else.
 */
export type Verdict = 'pass' | 'fail' | 'not-authenticated'

/** What `doorstep verify` found in an export. */
export interface VerifyReport {
  verdict: Verdict
  /** The export agrees with itself and with its signature (whoever's key made it). */
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
  signature: {
    present: boolean
    /** manifest.json's canonical form verifies against the key named in manifest.sig. */
    valid: boolean
    keyFingerprint: string | null
    /** How the verifier came to trust that key, when it does. */
    trustedBy: string | null
  }
  /** Keys the verifier trusts, by fingerprint, and how. */
  trusted: TrustedKey[]
  /** Things worth saying that are not problems (a key URL that did not answer). */
  notes: string[]
  problems: string[]
}

const META_FILES = new Set([MANIFEST_FILE, CUSTODY_FILE, SIGNATURE_FILE])

/** manifest.json, manifest.sig and custody.jsonl are read into memory; no honest export comes near this. */
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
      const keep = META_FILES.has(entry.fileName)
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
 * Checks an evidence export on its own, without the gateway or a network:
 * the signature of `manifest.json` (and whether its key is one of `trusted`),
 * every file's sha256 and size against the manifest, no file missing or
 * unlisted, the custody log's hash chain, and that the chain ends in this
 * export's entry, whose hash is the manifest's signed `custody.head`.
 */
export async function verifyExport(
  file: string,
  opts: { trusted?: readonly TrustedKey[]; notes?: readonly string[] } = {},
): Promise<VerifyReport> {
  const problems: string[] = []
  const report: VerifyReport = {
    verdict: 'fail',
    ok: false,
    file,
    zipSha256: null,
    manifest: null,
    files: [],
    custody: { entries: 0, head: null, ok: false },
    signature: { present: false, valid: false, keyFingerprint: null, trustedBy: null },
    trusted: [...(opts.trusted ?? [])],
    notes: [...(opts.notes ?? [])],
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
  let raw: unknown
  try {
    raw = JSON.parse(m.data.toString('utf8'))
    const parsed = Manifest.safeParse(raw)
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
  checkSignature(report, raw, m.data, seen.get(SIGNATURE_FILE)?.data ?? null)

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
    if (!listed.has(name) && !META_FILES.has(name)) {
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
  report.verdict = !report.ok ? 'fail' : report.signature.trustedBy ? 'pass' : 'not-authenticated'
  return report
}

/**
 * The signature: manifest.sig must name a key whose fingerprint matches the
 * public key it carries and the manifest's `signedBy`, and hold that key's
 * Ed25519 signature of the manifest's canonical JSON (RFC 8785; the gateway
 * writes manifest.json in exactly that form). A valid signature only says
 * "this key signed this"; whether the key is the gateway's is for `trusted`.
 */
function checkSignature(
  report: VerifyReport,
  manifest: unknown,
  bytes: Buffer,
  sigData: Buffer | null,
): void {
  const { problems, signature } = report
  if (!sigData) {
    problems.push(
      `${SIGNATURE_FILE} is missing: the export is not signed, so anyone could have made or changed it`,
    )
    return
  }
  signature.present = true
  let sig: ManifestSignature
  try {
    const parsed = ManifestSignature.safeParse(JSON.parse(sigData.toString('utf8')))
    if (!parsed.success) {
      problems.push(`${SIGNATURE_FILE} is not a Doorstep signature: ${parsed.error.issues[0]?.message}`)
      return
    }
    sig = parsed.data
  } catch {
    problems.push(`${SIGNATURE_FILE} is not JSON`)
    return
  }
  signature.keyFingerprint = sig.keyFingerprint
  const pub = publicKeyFromPem(sig.publicKey)
  if (!pub) {
    problems.push(`${SIGNATURE_FILE}: its public key is not an Ed25519 key`)
    return
  }
  if (fingerprintOf(pub) !== sig.keyFingerprint) {
    problems.push(`${SIGNATURE_FILE}: the public key it carries does not have the fingerprint it names`)
    return
  }
  const m = manifest as { signedBy?: unknown }
  if (m.signedBy !== sig.keyFingerprint) {
    problems.push(
      `${MANIFEST_FILE} says it is signed by ${String(m.signedBy)}, but ${SIGNATURE_FILE} is by ${sig.keyFingerprint}`,
    )
  }
  const canonical = canonicalJson(manifest)
  if (!verifyBytes(pub, canonical, sig.signature)) {
    problems.push(
      `${MANIFEST_FILE} was changed after it was signed: the signature in ${SIGNATURE_FILE} does not match its content`,
    )
    return
  }
  signature.valid = true
  if (canonical !== bytes.toString('utf8')) {
    report.notes.push(`${MANIFEST_FILE} was re-formatted since it was signed; its content is unchanged`)
  }
  const trusted = report.trusted.find((k) => k.fingerprint === sig.keyFingerprint)
  if (trusted) signature.trustedBy = trusted.source
  else if (report.trusted.length > 0) {
    problems.push(
      `signed by key ${sig.keyFingerprint}, which is not a key you trust (${report.trusted.map((k) => k.fingerprint).join(', ')})`,
    )
  }
}
