import { execFile } from 'node:child_process'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { CaseDetail, CustodyEntry, EvidenceKeys, Manifest, ManifestSignature } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canonicalJson, linkHash, sha256Hex } from '../../gateway/src/audit/index.js'
import { fingerprintOf, publicPemOf, signBytes } from '../../gateway/src/evidence/index.js'
import { announce, type ClipFile, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, basic, bearer } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { readZipEntries, writeZipEntries } from './zip.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

async function verifyCli(zip: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [CLI, 'verify', zip, ...args], { cwd: ROOT })
    return { code: 0, out: stdout }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/** Custody entries re-numbered and re-chained from the first, as a forger with sha256 alone can. */
function rechain(entries: CustodyEntry[]): CustodyEntry[] {
  let prev = '0'.repeat(64)
  return entries.map((e, i) => {
    const { prevHash: _p, hash: _h, ...rest } = e
    const body = { ...rest, seq: i + 1 }
    const hash = linkHash(prev, body)
    const out = { ...body, prevHash: prev, hash }
    prev = hash
    return out
  })
}

const jsonl = (entries: CustodyEntry[]) => Buffer.from(entries.map((e) => `${canonicalJson(e)}\n`).join(''))

describe('signed exports: what a forger tries, and what verify says', () => {
  let t: TestGateway
  let fixtures: { dir: string; cleanup: () => void }
  let clip: ClipFile
  let unit: MqttClient
  let zipPath: string
  let entries: Map<string, Buffer>
  let manifest: Manifest
  let fingerprint: string
  let n = 0
  const out = () => path.join(fixtures.dir, `forged-${n++}.zip`)

  /** The export with its manifest (and what else `change` returns) replaced; the old signature kept. */
  async function forge(change: (m: Manifest, e: Map<string, Buffer>) => void): Promise<string> {
    const e = new Map(entries)
    const m = structuredClone(manifest)
    change(m, e)
    e.set('manifest.json', Buffer.from(canonicalJson(m)))
    const file = out()
    await writeZipEntries(e, file)
    return file
  }

  beforeAll(async () => {
    fixtures = tempDir('doorstep-signed-')
    clip = makeClip(fixtures.dir, 'front-door', { tag: 'signed' })
    t = await startTestGateway()
    const base = t.gateway.httpUrl
    const investigator = (await t.gateway.tokens.issue('Det. Sgt. Ma', 'investigator')).token
    const reg = t.gateway.registry
    const front = await reg.create(deviceRow({ id: 'cam-front', district: 3, releasePolicy: 'always' }))
    await reg.create(deviceRow({ id: 'cam-private', district: 3, releasePolicy: 'never' }))
    unit = await connectUnit(t.gateway.mqttUrl, front.id, front.secret)
    const eventId = await announce(unit, front.id, clipInfo(clip))
    await until('the event is indexed', () => t.gateway.events.index.get(eventId)?.clip.state === 'pending')
    expect((await putClip(base, eventId, basic(front.id, front.secret), clip.buf)).status).toBe(201)
    await t.gateway.clips.idle()
    const now = Date.now()
    const created = await api<CaseDetail>(base, 'POST', '/api/v1/cases', investigator, {
      number: 'PD-2025-0042',
      reason: 'Parcel theft at 3 Elm Rd',
      from: now - 3_600_000,
      to: now + 3_600_000,
      area: { kind: 'devices', ids: ['cam-front', 'cam-private'] },
    })
    expect(created.status).toBe(201)
    await t.gateway.cases.idle()
    const res = await fetch(`${base}/api/v1/cases/${created.body.case.id}/export`, {
      headers: bearer(investigator),
    })
    expect(res.status).toBe(200)
    zipPath = path.join(fixtures.dir, 'export.zip')
    fs.writeFileSync(zipPath, Buffer.from(await res.arrayBuffer()))
    entries = await readZipEntries(zipPath)
    manifest = JSON.parse((entries.get('manifest.json') as Buffer).toString('utf8')) as Manifest
    fingerprint = t.gateway.evidenceKeys.fingerprint
  })

  afterAll(async () => {
    if (unit) await end(unit)
    await t?.stop()
    fixtures?.cleanup()
  })

  it('the export carries a canonical manifest bound to the key, and a signature', () => {
    const raw = (entries.get('manifest.json') as Buffer).toString('utf8')
    expect(raw).toBe(canonicalJson(JSON.parse(raw)))
    expect(manifest.signedBy).toBe(fingerprint)
    expect(manifest.files.map((f) => f.kind).sort()).toEqual(['clip', 'thumbnail'])
    expect(manifest.withheld).toEqual([
      { deviceId: 'cam-private', reason: 'no consent recorded (owner not asked or not answered)' },
    ])
    const sig = JSON.parse((entries.get('manifest.sig') as Buffer).toString('utf8')) as ManifestSignature
    expect(sig).toMatchObject({ alg: 'Ed25519', keyFingerprint: fingerprint })
  })

  it('untouched: PASS with the pinned fingerprint, the PEM file or the key URL; NOT AUTHENTICATED without', async () => {
    const pinned = await verifyCli(zipPath, '--key', fingerprint)
    expect(pinned.out).toContain(`VERDICT: PASS — signed by the trusted key ${fingerprint}`)
    expect(pinned.out).toContain('trusted: yes')
    expect(pinned.code).toBe(0)

    const keys = (await (await fetch(`${t.gateway.httpUrl}/api/v1/evidence/keys`)).json()) as EvidenceKeys
    const pem = path.join(fixtures.dir, 'gateway.pub.pem')
    fs.writeFileSync(pem, keys.keys[0]?.publicKey ?? '')
    const byPem = await verifyCli(zipPath, '--key', pem)
    expect(byPem.out).toContain(`the key in ${pem}`)
    expect(byPem.code).toBe(0)

    const byUrl = await verifyCli(zipPath, '--key', `${t.gateway.httpUrl}/api/v1/evidence/keys`)
    expect(byUrl.code).toBe(0)

    const none = await verifyCli(zipPath)
    expect(none.out).toContain('VERDICT: NOT AUTHENTICATED')
    expect(none.out).toContain(`signed by key ${fingerprint}`)
    expect(none.code).toBe(3)

    // A key URL that does not answer: said so, and the verdict falls back to not authenticated.
    const down = await verifyCli(zipPath, '--key', 'http://127.0.0.1:9/api/v1/evidence/keys')
    expect(down.out).toContain('could not get the gateway')
    expect(down.code).toBe(3)
  })

  it('re-packed with the same content (compressed, other order): still PASS', async () => {
    const file = out()
    await writeZipEntries(new Map([...entries].reverse()), file, { compress: true })
    expect(fs.readFileSync(file).equals(fs.readFileSync(zipPath))).toBe(false)
    const v = await verifyCli(file, '--key', fingerprint)
    expect(v.out).toContain('VERDICT: PASS')
    expect(v.code).toBe(0)
  })

  it('a changed byte in a clip: FAIL, naming the clip', async () => {
    const clipPath = manifest.files.find((f) => f.kind === 'clip')?.path as string
    const e = new Map(entries)
    const bad = Buffer.from(e.get(clipPath) as Buffer)
    bad[100] = (bad[100] as number) ^ 0x01
    e.set(clipPath, bad)
    const file = out()
    await writeZipEntries(e, file)
    const v = await verifyCli(file, '--key', fingerprint)
    expect(v.code).toBe(1)
    expect(v.out).toContain(`${clipPath}: sha256 is `)
  })

  it.each([
    [
      'the case number',
      (m: Manifest) => {
        m.case.number = 'PD-2025-0043'
      },
    ],
    [
      'the window',
      (m: Manifest) => {
        m.case.from -= 3_600_000
      },
    ],
    [
      'exportedBy',
      (m: Manifest) => {
        m.exportedBy = 'Chief Insp. Someone Else'
      },
    ],
    [
      'exportedAt',
      (m: Manifest) => {
        m.exportedAt += 60_000
      },
    ],
    [
      'a withheld reason',
      (m: Manifest) => {
        m.withheld = [{ deviceId: 'cam-private', reason: 'consent owner-approved' }]
      },
    ],
  ])('the manifest’s %s edited: FAIL, the signature no longer matches', async (_what, change) => {
    const v = await verifyCli(await forge((m) => change(m)), '--key', fingerprint)
    expect(v.code).toBe(1)
    expect(v.out).toContain('manifest.json was changed after it was signed')
  })

  /** A file dropped, the manifest's list, the export's custody entry and every digest recomputed. */
  const dropThumbnail = (m: Manifest, e: Map<string, Buffer>) => {
    const thumb = m.files.find((f) => f.kind === 'thumbnail') as Manifest['files'][number]
    e.delete(thumb.path)
    m.files = m.files.filter((f) => f !== thumb)
    const custody = (e.get('custody.jsonl') as Buffer)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CustodyEntry)
    const last = custody.at(-1) as CustodyEntry
    last.details = { ...last.details, files: m.files.length, filesDigest: sha256Hex(canonicalJson(m.files)) }
    const chained = rechain(custody)
    e.set('custody.jsonl', jsonl(chained))
    m.custody = { ...m.custody, entries: chained.length, head: (chained.at(-1) as CustodyEntry).hash }
  }

  it('a file removed and all digests recomputed: FAIL (the signature does not match)', async () => {
    const v = await verifyCli(await forge(dropThumbnail), '--key', fingerprint)
    expect(v.code).toBe(1)
    expect(v.out).toContain('manifest.json was changed after it was signed')
  })

  it('the custody log cut short and re-chained: FAIL, whether or not the manifest was recomputed', async () => {
    const cut = (m: Manifest, e: Map<string, Buffer>, fixManifest: boolean) => {
      const custody = (e.get('custody.jsonl') as Buffer)
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as CustodyEntry)
      expect(custody.length).toBeGreaterThan(2)
      // Drop everything between the first entry and this export's own.
      const chained = rechain([custody[0] as CustodyEntry, custody.at(-1) as CustodyEntry])
      e.set('custody.jsonl', jsonl(chained))
      if (fixManifest) m.custody = { ...m.custody, entries: 2, head: (chained.at(-1) as CustodyEntry).hash }
    }
    const kept = await verifyCli(await forge((m, e) => cut(m, e, false)), '--key', fingerprint)
    expect(kept.code).toBe(1)
    expect(kept.out).toMatch(/custody log has 2 entries, the manifest says \d+/)
    expect(kept.out).toContain('CHAIN BROKEN')
    const fixed = await verifyCli(await forge((m, e) => cut(m, e, true)), '--key', fingerprint)
    expect(fixed.code).toBe(1)
    expect(fixed.out).toContain('manifest.json was changed after it was signed')
  })

  it('re-signed with another key: FAIL against the trusted key, NOT AUTHENTICATED without one', async () => {
    const { privateKey } = generateKeyPairSync('ed25519')
    const forger: KeyObject = privateKey
    const e = new Map(entries)
    const m = structuredClone(manifest)
    dropThumbnail(m, e)
    m.signedBy = fingerprintOf(forger)
    const canonical = canonicalJson(m)
    e.set('manifest.json', Buffer.from(canonical))
    const sig: ManifestSignature = {
      format: 'doorstep-signature/1',
      alg: 'Ed25519',
      keyFingerprint: fingerprintOf(forger),
      publicKey: publicPemOf(forger),
      signature: signBytes(forger, canonical),
    }
    e.set('manifest.sig', Buffer.from(JSON.stringify(sig)))
    const file = out()
    await writeZipEntries(e, file)
    const v = await verifyCli(file, '--key', fingerprint)
    expect(v.code).toBe(1)
    expect(v.out).toContain(
      `signed by key ${fingerprintOf(forger)}, which is not a key you trust (${fingerprint})`,
    )
    expect(v.out).toContain('trusted: NO')
    const none = await verifyCli(file)
    expect(none.code).toBe(3)
    expect(none.out).toContain('VERDICT: NOT AUTHENTICATED')
  })

  it('the signature removed: FAIL, not signed', async () => {
    const e = new Map(entries)
    e.delete('manifest.sig')
    const file = out()
    await writeZipEntries(e, file)
    const v = await verifyCli(file)
    expect(v.code).toBe(1)
    expect(v.out).toContain('manifest.sig is missing')
  })
})
