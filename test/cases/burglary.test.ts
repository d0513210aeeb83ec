import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type {
  AuditEntry,
  CaseDetail,
  ChainReport,
  ConsentRequest,
  DeviceView,
  Manifest,
  PullView,
} from '@doorstep/proto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import yauzl from 'yauzl'
import yazl from 'yazl'
import { sha256Hex } from '../../gateway/src/audit/chain.js'
import { announce, type ClipFile, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, basic, bearer } from '../helpers/http.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { pullOf, TestUnit } from './helpers.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

/**
 * `doorstep verify` as a child process: exit code and what it printed. `viaNpx` runs it the way
 * people do (`npx doorstep`, through the root package's `bin`); otherwise the bin file directly.
 */
async function verifyCli(zip: string, viaNpx = false, key?: string): Promise<{ code: number; out: string }> {
  const args = ['verify', zip, ...(key ? ['--key', key] : [])]
  try {
    const { stdout } = viaNpx
      ? await run('npx', ['--no-install', 'doorstep', ...args], { cwd: ROOT })
      : await run(process.execPath, [CLI, ...args], { cwd: ROOT })
    return { code: 0, out: stdout }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/** Rewrites a ZIP with one entry's bytes changed (for a tamper that keeps the ZIP readable). */
async function rezip(
  src: string,
  dest: string,
  change: (name: string, data: Buffer) => Buffer,
): Promise<void> {
  const zin = await yauzl.openPromise(src, { lazyEntries: true })
  const zout = new yazl.ZipFile()
  for await (const entry of zin.eachEntry()) {
    const chunks: Buffer[] = []
    for await (const c of await zin.openReadStreamPromise(entry)) chunks.push(c as Buffer)
    zout.addBuffer(change(entry.fileName, Buffer.concat(chunks)), entry.fileName)
  }
  zin.close()
  zout.end()
  await new Promise<void>((resolve, reject) => {
    const ws = fs.createWriteStream(dest)
    ;(zout.outputStream as NodeJS.ReadableStream).pipe(ws).on('finish', resolve).on('error', reject)
  })
}

// The shop that was burgled, and the units around it (0.001° of latitude ≈ 111 m).
const SHOP = { lat: 29.3, lon: 117.2 }
const near = (dLat: number) => ({ lat: SHOP.lat + dLat, lon: SHOP.lon })

describe('the burglary story: case, pulls with consent, export, verify, tamper', () => {
  let t: TestGateway
  let base: string
  let fixtures: { dir: string; cleanup: () => void }
  let clips: Record<'event' | 'always' | 'offline' | 'ask' | 'never', ClipFile>
  let investigator: string
  let admin: string
  let owner: string
  let stranger: string
  const units: Record<string, TestUnit> = {}
  let caseId: string
  let eventId: string
  let zipPath: string
  let zipBuf: Buffer
  let manifest: Manifest

  beforeAll(async () => {
    fixtures = tempDir('doorstep-case-')
    clips = {
      event: makeClip(fixtures.dir, 'event-front', { tag: 'event' }),
      always: makeClip(fixtures.dir, 'pull-always', { tag: 'always' }),
      offline: makeClip(fixtures.dir, 'pull-offline', { tag: 'offline' }),
      ask: makeClip(fixtures.dir, 'pull-ask', { tag: 'ask' }),
      never: makeClip(fixtures.dir, 'pull-never', { tag: 'never' }),
    }
    t = await startTestGateway()
    base = t.gateway.httpUrl
    admin = t.adminToken
    const tokens = t.gateway.tokens
    investigator = (await tokens.issue('Det. Insp. Chen', 'investigator')).token
    owner = (await tokens.issue('Mrs Wu', 'owner', 'wu@example.org')).token
    stranger = (await tokens.issue('Mr Li', 'owner', 'li@example.org')).token
    const reg = t.gateway.registry
    const mk = async (
      id: string,
      dLat: number,
      releasePolicy: 'always' | 'ask' | 'never',
      ownerContact: string,
    ) => reg.create(deviceRow({ id, district: 7, ...near(dLat), releasePolicy, ownerContact }))
    const always = await mk('cam-shop-next', 0.0005, 'always', 'zhao@example.org')
    const offline = await mk('cam-bakery', 0.0011, 'always', 'qian@example.org')
    const ask = await mk('cam-wu-home', 0.0018, 'ask', 'wu@example.org')
    const never = await mk('cam-sun-flat', 0.0027, 'never', 'sun@example.org')
    await mk('cam-far-away', 0.045, 'always', 'zhou@example.org')
    const unit = (c: { id: string; secret: string }, clip: ClipFile, o: Partial<TestUnit['o']> = {}) =>
      new TestUnit({ baseUrl: base, mqttUrl: t.gateway.mqttUrl, id: c.id, secret: c.secret, clip, ...o })
    units.always = unit(always, clips.always, { holdHalfway: true })
    units.offline = unit(offline, clips.offline)
    units.ask = unit(ask, clips.ask, { policy: 'ask' })
    units.never = unit(never, clips.never, { policy: 'never' })
    // Three units are online; the bakery's is not (its uplink is down).
    await Promise.all([units.always.connect(), units.ask.connect(), units.never.connect()])

    // In the night the unit next door recorded a person, and uploaded the clip.
    eventId = await announce(units.always.client, always.id, clipInfo(clips.event))
    await until('the event is indexed', () => t.gateway.events.index.get(eventId)?.clip.state === 'pending')
    const up = await putClip(base, eventId, basic(always.id, always.secret), clips.event.buf)
    expect(up.status).toBe(201)
    await t.gateway.clips.idle()
  })

  afterAll(async () => {
    for (const u of Object.values(units)) await u.disconnect().catch(() => {})
    await t?.stop()
    fixtures?.cleanup()
  })

  it('an investigator opens a case: units in the radius, their events in the window, holds on them', async () => {
    const now = Date.now()
    const res = await api<CaseDetail>(base, 'POST', '/api/v1/cases', investigator, {
      number: 'PD-2024-0815',
      reason: 'Burglary at 12 Market St between 02:00 and 04:00',
      from: now - 3_600_000,
      to: now + 3_600_000,
      area: { kind: 'radius', ...SHOP, radiusM: 500 },
    })
    expect(res.status).toBe(201)
    const detail = res.body
    caseId = detail.case.id
    expect(detail.case).toMatchObject({
      number: 'PD-2024-0815',
      state: 'open',
      createdBy: expect.stringContaining('Chen'),
    })
    // Nearest first; the unit 5 km away is not in it.
    expect(detail.devices.map((d) => d.id)).toEqual([
      'cam-shop-next',
      'cam-bakery',
      'cam-wu-home',
      'cam-sun-flat',
    ])
    expect(detail.devices[0]?.distanceM).toBeGreaterThan(50)
    expect(detail.devices[0]?.distanceM).toBeLessThan(60)
    expect(detail.events.map((e) => e.id)).toEqual([eventId])
    expect(detail.holds).toHaveLength(1)
    expect(detail.holds[0]).toMatchObject({ eventId, reason: 'case PD-2024-0815', active: true })
    // `always` units' consent is their policy, on record from the start.
    expect(detail.devices[0]?.consent).toMatchObject({ basis: 'policy-always', granted: true })
    expect(detail.devices[2]?.consent).toBeNull()

    const again = await api(base, 'POST', '/api/v1/cases', investigator, {
      number: 'PD-2024-0815',
      reason: 'dup',
      from: now,
      to: now + 1,
      area: { kind: 'district', district: 7 },
    })
    expect(again.status).toBe(409)
  })

  it('pulls go to the units: pending, offline, awaiting the owner, refused by policy', async () => {
    const res = await api<{ pulls: PullView[] }>(
      base,
      'POST',
      `/api/v1/cases/${caseId}/pulls`,
      investigator,
      {},
    )
    expect(res.status).toBe(201)
    const pulls = res.body.pulls
    expect(pulls).toHaveLength(4)
    expect(pullOf(pulls, 'cam-bakery').state).toBe('offline')
    expect(pullOf(pulls, 'cam-wu-home').state).toBe('awaiting-consent')
    expect(pullOf(pulls, 'cam-sun-flat')).toMatchObject({
      state: 'refused',
      reason: expect.stringContaining('legal order'),
    })
    expect(pullOf(pulls, 'cam-sun-flat').consent).toMatchObject({ basis: 'policy-never', granted: false })

    // The unit next door gets the command, accepts, and is halfway through its upload.
    const p = pullOf(pulls, 'cam-shop-next')
    await until('the command reaches the unit', () => units.always?.commands.length === 1)
    expect(units.always?.commands[0]).toMatchObject({
      action: 'pull',
      cmdId: p.id,
      uploadPath: `/api/v1/pulls/${p.id}/upload`,
      from: expect.any(Number),
      to: expect.any(Number),
    })
    const half = Math.floor(clips.always.bytes / 2)
    const progress = await until('progress is reported', async () => {
      const r = await api<PullView>(base, 'GET', `/api/v1/pulls/${p.id}`, investigator)
      return r.body.state === 'uploading' && r.body.bytes === half ? r.body : undefined
    })
    expect(progress.total).toBe(clips.always.bytes)
    units.always?.release()
    const done = await until('the pull is done', async () => {
      const r = await api<PullView>(base, 'GET', `/api/v1/pulls/${p.id}`, investigator)
      return r.body.state === 'done' ? r.body : undefined
    })
    expect(done.recording).toMatchObject({
      sha256: clips.always.sha256,
      bytes: clips.always.bytes,
      codec: 'h264',
    })
    // Units that were never asked got nothing.
    expect(units.ask?.commands).toHaveLength(0)
    expect(units.never?.commands).toHaveLength(0)
  })

  it('the owner who is asked sees the request for their unit only, approves it, and the unit uploads', async () => {
    const mine = await api<{ devices: DeviceView[] }>(base, 'GET', '/api/v1/my/devices', owner)
    expect(mine.body.devices.map((d) => d.id)).toEqual(['cam-wu-home'])
    const other = await api<{ requests: ConsentRequest[] }>(base, 'GET', '/api/v1/my/consents', stranger)
    expect(other.body.requests).toEqual([])
    const req = await api<{ requests: ConsentRequest[] }>(base, 'GET', '/api/v1/my/consents', owner)
    expect(req.body.requests).toHaveLength(1)
    const r = req.body.requests[0] as ConsentRequest
    expect(r).toMatchObject({ caseNumber: 'PD-2024-0815', deviceId: 'cam-wu-home', state: 'waiting' })
    expect(r.reason).toContain('Burglary')

    // Someone else's owner token cannot decide for this unit.
    const wrong = await api(base, 'POST', `/api/v1/my/consents/${r.pullId}`, stranger, {
      decision: 'approve',
    })
    expect(wrong.status).toBe(404)

    const ok = await api<{ state: string; consent: { basis: string; decidedBy: string } }>(
      base,
      'POST',
      `/api/v1/my/consents/${r.pullId}`,
      owner,
      { decision: 'approve', note: 'only the front door camera' },
    )
    expect(ok.status).toBe(200)
    expect(ok.body.consent).toMatchObject({
      basis: 'owner-approved',
      decidedBy: expect.stringContaining('Mrs Wu'),
    })
    const twice = await api<{ error: { code: string } }>(
      base,
      'POST',
      `/api/v1/my/consents/${r.pullId}`,
      owner,
      {
        decision: 'decline',
      },
    )
    expect(twice.body.error.code).toBe('DOORSTEP_ERR_CONSENT_DECIDED')
    await until('the approved pull is done', async () => {
      const p = await api<PullView>(base, 'GET', `/api/v1/pulls/${r.pullId}`, investigator)
      return p.body.state === 'done'
    })
    const after = await api<{ requests: ConsentRequest[] }>(base, 'GET', '/api/v1/my/consents', owner)
    expect(after.body.requests[0]).toMatchObject({ state: 'approved', decidedAt: expect.any(Number) })
  })

  it('a `never` unit is pulled only once an admin records a legal order', async () => {
    const pulls = (
      await api<{ pulls: PullView[] }>(base, 'GET', `/api/v1/cases/${caseId}/pulls`, investigator)
    ).body.pulls
    const p = pullOf(pulls, 'cam-sun-flat')
    const byInvestigator = await api(base, 'POST', `/api/v1/pulls/${p.id}/legal-order`, investigator, {
      orderNumber: 'LO-2024-77',
    })
    expect(byInvestigator.status).toBe(403)
    const res = await api<PullView>(base, 'POST', `/api/v1/pulls/${p.id}/legal-order`, admin, {
      orderNumber: 'LO-2024-77',
      note: 'District court order of today',
    })
    expect(res.status).toBe(200)
    expect(res.body.consent).toMatchObject({ basis: 'legal-order', granted: true, legalOrder: 'LO-2024-77' })
    await until('the unit gets a command carrying the order', () => units.never?.commands.length === 1)
    expect(units.never?.commands[0]).toMatchObject({ cmdId: p.id, legalOrder: 'LO-2024-77' })
    await until('the ordered pull is done', async () => {
      const v = await api<PullView>(base, 'GET', `/api/v1/pulls/${p.id}`, investigator)
      return v.body.state === 'done'
    })
    const again = await api(base, 'POST', `/api/v1/pulls/${p.id}/legal-order`, admin, { orderNumber: 'LO-2' })
    expect(again.status).toBe(409)
  })

  it('the offline unit gets its pull when it comes back, and uploads', async () => {
    const before = pullOf(
      (await api<{ pulls: PullView[] }>(base, 'GET', `/api/v1/cases/${caseId}/pulls`, investigator)).body
        .pulls,
      'cam-bakery',
    )
    expect(before).toMatchObject({ state: 'offline', sends: 0 })
    await units.offline?.connect()
    await until('the waiting command arrives', () => units.offline?.commands.length === 1)
    expect(units.offline?.commands[0]).toMatchObject({ cmdId: before.id, action: 'pull' })
    const done = await until('the pull is done', async () => {
      const v = await api<PullView>(base, 'GET', `/api/v1/pulls/${before.id}`, investigator)
      return v.body.state === 'done' ? v.body : undefined
    })
    expect(done).toMatchObject({ sends: 1, bytes: clips.offline.bytes })
    await t.gateway.cases.idle()
    await t.gateway.clips.idle()
  })

  it('exports a ZIP that `doorstep verify` passes: clips, thumbnails, manifest, custody log', async () => {
    const res = await fetch(`${base}/api/v1/cases/${caseId}/export`, {
      headers: bearer(investigator),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/zip')
    expect(res.headers.get('content-disposition')).toContain('case-PD-2024-0815.zip')
    zipBuf = Buffer.from(await res.arrayBuffer())
    zipPath = path.join(fixtures.dir, 'export.zip')
    fs.writeFileSync(zipPath, zipBuf)

    const zip = await yauzl.openPromise(zipPath, { lazyEntries: true })
    const names: string[] = []
    let found: Manifest | null = null
    for await (const e of zip.eachEntry()) {
      names.push(e.fileName)
      if (e.fileName === 'manifest.json') {
        const chunks: Buffer[] = []
        for await (const c of await zip.openReadStreamPromise(e)) chunks.push(c as Buffer)
        found = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest
      }
    }
    zip.close()
    expect(found).not.toBeNull()
    manifest = found as Manifest
    const m = manifest
    const clipFiles = m.files.filter((f) => f.kind === 'clip')
    expect(clipFiles.map((f) => [f.deviceId, f.obtained.how, f.consent.basis, f.sha256]).sort()).toEqual(
      [
        ['cam-bakery', 'pull', 'policy-always', clips.offline.sha256],
        ['cam-shop-next', 'event-upload', 'policy-always', clips.event.sha256],
        ['cam-shop-next', 'pull', 'policy-always', clips.always.sha256],
        ['cam-sun-flat', 'pull', 'legal-order', clips.never.sha256],
        ['cam-wu-home', 'pull', 'owner-approved', clips.ask.sha256],
      ].sort(),
    )
    expect(m.files.filter((f) => f.kind === 'thumbnail').length).toBe(5)
    for (const f of m.files) expect(names).toContain(f.path)
    expect(names).toContain('custody.jsonl')
    const legal = clipFiles.find((f) => f.consent.basis === 'legal-order')
    expect(legal?.consent.legalOrder).toBe('LO-2024-77')
    expect(clipFiles.find((f) => f.obtained.how === 'event-upload')?.obtained.eventId).toBe(eventId)
    expect(m.custody.entries).toBeGreaterThan(10)

    const v = await verifyCli(zipPath, true, t.gateway.evidenceKeys.fingerprint)
    expect(v.out).toContain('VERDICT: PASS')
    expect(v.code).toBe(0)

    // The export is on the audit log with the ZIP's own digest.
    const audit = await api<{ entries: AuditEntry[] }>(base, 'GET', '/api/v1/audit?action=case.export', admin)
    expect(audit.body.entries).toHaveLength(1)
    expect(audit.body.entries[0]?.details).toMatchObject({
      zipSha256: sha256Hex(zipBuf),
      bytes: zipBuf.length,
    })
  })

  it('one byte changed in the ZIP: verify fails and says which file', async () => {
    // The owner's clip, stored uncompressed: its bytes follow its local header (ZIP APPNOTE §4.3.7).
    const name = manifest.files.find((f) => f.deviceId === 'cam-wu-home' && f.kind === 'clip')?.path as string
    const nameAt = zipBuf.indexOf(Buffer.from(name))
    const dataAt = nameAt + name.length + zipBuf.readUInt16LE(nameAt - 2)
    expect(zipBuf.subarray(dataAt, dataAt + 64).equals(clips.ask.buf.subarray(0, 64))).toBe(true)
    const bad = Buffer.from(zipBuf)
    const at = dataAt + Math.floor(clips.ask.bytes / 2)
    bad[at] = (bad[at] as number) ^ 0x01
    const badPath = path.join(fixtures.dir, 'tampered.zip')
    fs.writeFileSync(badPath, bad)
    const v = await verifyCli(badPath)
    expect(v.code).toBe(1)
    expect(v.out).toContain('VERDICT: FAIL')
    expect(v.out).toContain(`${name}: sha256 is `)
    expect(v.out).toMatch(/1 problem;/)
  })

  it('an entry of the custody log rewritten: verify names the broken link', async () => {
    const badPath = path.join(fixtures.dir, 'custody-edited.zip')
    await rezip(zipPath, badPath, (name, data) => {
      if (name !== 'custody.jsonl') return data
      const lines = data.toString('utf8').split('\n')
      lines[1] = (lines[1] as string).replace('"actor":"', '"actor":"not ')
      return Buffer.from(lines.join('\n'))
    })
    const v = await verifyCli(badPath)
    expect(v.code).toBe(1)
    expect(v.out).toContain('custody log entry 2: the entry was changed')
  })

  it('a row of the audit log edited in the database: the audit verify finds it', async () => {
    const ok = await api<ChainReport>(base, 'GET', '/api/v1/audit/verify', admin)
    expect(ok.body).toMatchObject({ ok: true, problems: [] })
    expect(ok.body.entries).toBeGreaterThan(10)

    // Wherever the log is: the gateway's file, or (a run on PostgreSQL) the shared database.
    const shared = t.gateway.shared
    const db = shared.tables<Record<never, never>>()
    const found = await sql<{
      seq: number
    }>`SELECT seq FROM audit_log WHERE action = 'consent.decide'`.execute(db)
    const seq = Number(found.rows[0]?.seq)
    // The table refuses edits...
    await expect(sql`UPDATE audit_log SET actor = 'nobody' WHERE seq = ${seq}`.execute(db)).rejects.toThrow(
      /append-only/,
    )
    // ...but someone with the database can drop the guard; the chain still tells.
    const dropGuard =
      shared.dialect === 'postgres'
        ? 'DROP TRIGGER audit_log_no_update ON audit_log'
        : 'DROP TRIGGER audit_log_no_update'
    await sql.raw(dropGuard).execute(db)
    await sql`UPDATE audit_log SET details = '{"decision":"decline"}' WHERE seq = ${seq}`.execute(db)
    const bad = await api<ChainReport>(base, 'GET', '/api/v1/audit/verify', admin)
    expect(bad.body.ok).toBe(false)
    expect(bad.body.problems).toEqual([{ seq, problem: expect.stringContaining('changed') }])
  })

  it('closing the case releases its holds', async () => {
    const res = await api<{ state: string }>(base, 'POST', `/api/v1/cases/${caseId}/close`, investigator)
    expect(res.body.state).toBe('closed')
    const holds = await t.gateway.clips.holds({ eventId })
    expect(holds).toEqual([])
    const late = await api<{ error: { code: string } }>(
      base,
      'POST',
      `/api/v1/cases/${caseId}/pulls`,
      investigator,
      {},
    )
    expect(late.body.error.code).toBe('DOORSTEP_ERR_CASE_CLOSED')
  })
})
