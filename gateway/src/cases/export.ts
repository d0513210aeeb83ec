import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { PassThrough, type Readable, Transform } from 'node:stream'
import {
  type CaseView,
  type ConsentRecord,
  EVIDENCE_FORMAT,
  type Manifest,
  type ManifestFile,
  type ManifestSignature,
  SIGNATURE_FORMAT,
} from '@doorstep/proto'
import yazl from 'yazl'
import { canonicalJson, sha256Hex } from '../audit/index.js'
import type { EvidenceKeyring } from '../evidence/index.js'
import type { Logger } from '../log.js'
import type { Cases } from './cases.js'
import { custodyJsonl } from './custody.js'

/** One file of the export and where its bytes come from; hashed as it streams. */
interface Item {
  path: string
  file: string
  /** The digest the store promises (content address); null when there is none (thumbnails of clips). */
  expected: string | null
  meta: Omit<ManifestFile, 'path' | 'sha256' | 'bytes'>
}

export interface ExportPlan {
  case: CaseView
  items: Item[]
  withheld: Manifest['withheld']
}

export const CUSTODY_FILE = 'custody.jsonl'
export const MANIFEST_FILE = 'manifest.json'
export const SIGNATURE_FILE = 'manifest.sig'

/** What signs an export: the gateway's evidence key (see evidence/keys.ts). */
export type ManifestSigner = Pick<EvidenceKeyring, 'fingerprint' | 'current' | 'sign'>

const VERIFY_TEXT =
  'Run `npx doorstep verify <this.zip> --key <the gateway key fingerprint>` in the Doorstep project, or check ' +
  'by hand: manifest.json is RFC 8785 canonical JSON, and manifest.sig holds an Ed25519 signature of its exact ' +
  'bytes by the key whose fingerprint (sha256 of the SPKI DER public key) is `signedBy`: compare that ' +
  'fingerprint with one you obtained from the gateway’s operator; the sha256 and size of every file must ' +
  'equal its entry in `files`, and no other file may be in the ZIP; each line of custody.jsonl is an entry ' +
  'whose `hash` is sha256 of the previous entry’s hash (64 zeros for the first) followed by the canonical ' +
  'JSON of the entry without `prevHash` and `hash`; the last entry is this export’s `case.exported`, whose ' +
  '`details.filesDigest` is sha256 of the canonical JSON of `files`, and its hash is `custody.head`.'

function extOf(mime: string): string {
  if (mime === 'video/mp4') return 'mp4'
  if (mime === 'video/webm') return 'webm'
  if (mime === 'video/x-matroska') return 'mkv'
  if (mime === 'video/mp2t') return 'ts'
  if (mime === 'video/x-msvideo') return 'avi'
  return 'bin'
}

/**
 * What a case's export holds: for each unit whose footage may be released
 * (consent granted), the stored clips of its events in the window and the
 * recordings it uploaded for the case's pulls, each with its thumbnail when
 * one was made. Units without consent are listed as withheld, with why.
 */
export async function planExport(cases: Cases, caseId: string): Promise<ExportPlan> {
  const c = await cases.get(caseId)
  const table = cases.table
  const items: Item[] = []
  const withheld: Manifest['withheld'] = []
  const pulls = await table.pulls.ofCase(caseId)
  for (const row of await table.cases.devices(caseId)) {
    const deviceId = row.device_id
    const consent = await table.consents.current(caseId, deviceId)
    if (!consent?.granted) {
      const why = consent
        ? `consent ${consent.basis}`
        : 'no consent recorded (owner not asked or not answered)'
      withheld.push({ deviceId, reason: why })
      continue
    }
    const base = { deviceId, district: row.district }
    for (const e of await cases.eventsInWindow(c, deviceId)) {
      const media = await cases.clips.mediaOf(e.id)
      if (e.clip.state !== 'ready' || !media) continue
      const f = await cases.clips.clipFile(e.id)
      const clipPath = `clips/${deviceId}/event-${e.id}.${extOf(f.mime)}`
      const meta = {
        ...base,
        window: { from: e.startedAt, to: e.endedAt ?? e.startedAt + media.durationMs },
        receivedAt: media.storedAt,
        obtained: { how: 'event-upload' as const, eventId: e.id, pullId: null },
        consent,
      }
      const mediaInfo = {
        mime: media.mime,
        codec: media.codec,
        width: media.width,
        height: media.height,
        durationMs: media.durationMs,
      }
      items.push({
        path: clipPath,
        file: f.path,
        expected: f.sha256,
        meta: { ...meta, kind: 'clip', of: null, media: mediaInfo },
      })
      if (media.thumb) {
        const t = await cases.clips.thumbFile(e.id)
        items.push({
          path: `thumbs/${deviceId}/event-${e.id}.webp`,
          file: t.path,
          expected: null,
          meta: { ...meta, kind: 'thumbnail', of: clipPath, media: null },
        })
      }
    }
    for (const p of pulls) {
      if (p.device_id !== deviceId) continue
      const v = await table.pulls.view(p)
      if (!v.recording) {
        if (p.state !== 'done')
          withheld.push({ deviceId, reason: `pull ${p.id} is ${p.state}${p.reason ? `: ${p.reason}` : ''}` })
        continue
      }
      const r = v.recording
      const pullConsent: ConsentRecord = v.consent ?? consent
      const clipPath = `clips/${deviceId}/pull-${p.id}.${extOf(r.mime)}`
      const meta = {
        ...base,
        window: { from: p.window_from, to: p.window_to },
        receivedAt: r.storedAt,
        obtained: { how: 'pull' as const, eventId: null, pullId: p.id },
        consent: pullConsent,
      }
      const mediaInfo = {
        mime: r.mime,
        codec: r.codec,
        width: r.width,
        height: r.height,
        durationMs: r.durationMs,
      }
      items.push({
        path: clipPath,
        file: cases.store.clipPath(r.sha256),
        expected: r.sha256,
        meta: { ...meta, kind: 'clip', of: null, media: mediaInfo },
      })
      if (r.thumb) {
        items.push({
          path: `thumbs/${deviceId}/pull-${p.id}.webp`,
          file: cases.store.thumbPath(r.sha256),
          expected: null,
          meta: { ...meta, kind: 'thumbnail', of: clipPath, media: null },
        })
      }
    }
  }
  return { case: c, items, withheld }
}

/** A pass-through that hashes and counts what flows through it. */
function hashing(): { stream: Transform; result: () => { sha256: string; bytes: number } } {
  const h = createHash('sha256')
  let bytes = 0
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk)
      bytes += chunk.length
      cb(null, chunk)
    },
  })
  let digest: string | null = null
  return {
    stream,
    result: () => {
      digest ??= h.digest('hex')
      return { sha256: digest, bytes }
    },
  }
}

export interface ExportDone {
  zipSha256: string
  bytes: number
  custodyHead: string
  files: number
}

/**
 * Streams the ZIP: the files first (stored, not compressed: video does not
 * compress, and a reader can check each file's bytes in place), each hashed as
 * it goes out and compared with its content address; then the custody log,
 * ended by this export's own `case.exported` entry, `manifest.json` (canonical
 * JSON, RFC 8785, so its bytes are exactly what is signed) and `manifest.sig`.
 * Nothing is gathered in memory but the thumbnails' hashes and the manifest.
 * `done` resolves with the ZIP's own sha256 once the last byte is out, and
 * rejects when a stored file does not match its address or the client leaves.
 */
export function streamExport(
  cases: Cases,
  plan: ExportPlan,
  actor: string,
  signer: ManifestSigner,
  log: Pick<Logger, 'error'> | { error: (obj: object, msg: string) => void },
): { stream: Readable; done: Promise<ExportDone> } {
  const zip = new yazl.ZipFile()
  const out = hashing()
  const body = new PassThrough()
  ;(zip.outputStream as Readable).pipe(out.stream).pipe(body)
  const exportedAt = Date.now()
  const sources = new Set<fs.ReadStream>()
  // The client may go away at any point: then nothing waits for bytes nobody reads, and no file stays open.
  const gone = new Promise<never>((_resolve, reject) => {
    body.on('close', () => {
      if (body.readableEnded) return
      for (const src of sources) src.destroy()
      ;(zip.outputStream as Readable).destroy()
      reject(new Error('the client went away before the end of the ZIP'))
    })
  })
  gone.catch(() => {})
  const done = (async (): Promise<ExportDone> => {
    const files: ManifestFile[] = []
    const pending: Array<Promise<void>> = []
    for (const item of plan.items) {
      const h = hashing()
      const finished = new Promise<void>((resolve, reject) => {
        h.stream.on('end', resolve)
        h.stream.on('error', reject)
      })
      zip.addReadStreamLazy(item.path, { compress: false, mtime: new Date(item.meta.receivedAt) }, (cb) => {
        const src = fs.createReadStream(item.file)
        sources.add(src)
        src.on('close', () => sources.delete(src))
        src.on('error', (err) => h.stream.destroy(err))
        cb(null, src.pipe(h.stream))
      })
      pending.push(
        finished.then(() => {
          const { sha256, bytes } = h.result()
          if (item.expected !== null && sha256 !== item.expected) {
            throw new Error(
              `stored file for ${item.path} does not match its content address ${item.expected}`,
            )
          }
          files.push({ path: item.path, sha256, bytes, ...item.meta })
        }),
      )
    }
    await Promise.race([Promise.all(pending), gone])
    // Keep the plan's order whatever order the hashes finished in.
    const order = new Map(plan.items.map((it, i) => [it.path, i]))
    files.sort((a, b) => (order.get(a.path) ?? 0) - (order.get(b.path) ?? 0))
    const entry = await cases.custody.append(plan.case.id, actor, 'case.exported', {
      files: files.length,
      filesDigest: sha256Hex(canonicalJson(files)),
      withheld: plan.withheld.length,
      signedBy: signer.fingerprint,
    })
    const custody = await cases.custody.entries(plan.case.id)
    const manifest: Manifest = {
      format: EVIDENCE_FORMAT,
      case: plan.case,
      exportedAt,
      exportedBy: actor,
      files,
      withheld: plan.withheld,
      custody: { file: CUSTODY_FILE, entries: custody.length, head: entry.hash },
      verify: VERIFY_TEXT,
      signedBy: signer.fingerprint,
    }
    // The signature binds every field above: the case (number, reason, window, area), each file with its
    // digest, size and consent record, the units withheld and why, who exported and when, and the custody
    // log's head, which in turn binds every custody entry.
    const canonical = canonicalJson(manifest)
    const signature: ManifestSignature = {
      format: SIGNATURE_FORMAT,
      alg: 'Ed25519',
      keyFingerprint: signer.fingerprint,
      publicKey: signer.current.publicKey,
      signature: signer.sign(canonical),
    }
    const mtime = new Date(exportedAt)
    zip.addBuffer(Buffer.from(custodyJsonl(custody)), CUSTODY_FILE, { mtime })
    zip.addBuffer(Buffer.from(canonical), MANIFEST_FILE, { mtime })
    zip.addBuffer(Buffer.from(`${JSON.stringify(signature, null, 2)}\n`), SIGNATURE_FILE, { mtime })
    zip.end()
    await Promise.race([new Promise<void>((resolve) => body.on('end', resolve)), gone])
    const z = out.result()
    return { zipSha256: z.sha256, bytes: z.bytes, custodyHead: entry.hash, files: files.length }
  })()
  done.catch((err: Error) => {
    log.error({ err: err.message, caseId: plan.case.id }, 'evidence export failed; the ZIP is cut short')
    if (!body.destroyed) body.destroy(err)
  })
  return { stream: body, done }
}
