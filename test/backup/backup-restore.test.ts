import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {
  type AuditEntry,
  type CaseDetail,
  type ChainReport,
  type DeviceView,
  type FirmwareImage,
  type HeartbeatsResponse,
  topicFor,
} from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Hex } from '../../gateway/src/audit/chain.js'
import { announce, type ClipFile, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { uploadImage } from '../firmware/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { sharedWith, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, basic, bearer } from '../helpers/http.js'
import { influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { doorstep, STACK_FRAME } from './helpers.js'

/**
 * The whole story on a gateway with its managed influxd: units, heartbeats, events with a clip, a
 * case and its export; a backup taken while a unit keeps publishing; a second, incremental one; the
 * data dir destroyed; a damaged copy of the backup refused; the restore; and the restored gateway
 * serving all of it, with the audit chain and the old export still verifying.
 */
describe('doorstep backup and restore', { timeout: 120_000 }, () => {
  let t: TestGateway
  let restored: TestGateway | null = null
  let tmp: { dir: string; cleanup: () => void }
  let clip: ClipFile
  let base: string
  let investigator: string
  let front: { id: string; secret: string }
  let busy: { id: string; secret: string }
  let clipEventId: string
  let caseId: string
  let zipPath: string
  let zipSha: string
  let image: { id: string; sha256: string }
  let backupDir: string
  let newDataDir: string
  let ackedBeforeBackup: string[] = []
  const heartbeatTimes: number[] = []
  const before: { devices: DeviceView[]; caseDetail: CaseDetail | null; auditEntries: number } = {
    devices: [],
    caseDetail: null,
    auditEntries: 0,
  }

  beforeAll(async () => {
    tmp = tempDir('doorstep-backup-')
    backupDir = path.join(tmp.dir, 'backup')
    newDataDir = path.join(tmp.dir, 'restored')
    clip = makeClip(tmp.dir, 'front-door', { tag: 'backup' })
    // '' leaves DOORSTEP_INFLUX_URL unset: the gateway runs its own managed influxd, as installs do.
    t = await startTestGateway({ DOORSTEP_INFLUX_URL: '' })
    // A key kept under `keys/` (README "Backup and restore"): owner-only, and restored so.
    fs.mkdirSync(path.join(t.dataDir, 'keys'), { recursive: true })
    fs.writeFileSync(path.join(t.dataDir, 'keys', 'site.key'), 'not a real key\n', { mode: 0o600 })
    base = t.gateway.httpUrl
    investigator = (await t.gateway.tokens.issue('Det. Insp. Chen', 'investigator')).token
    front = await t.gateway.registry.create(deviceRow({ id: 'cam-front' }))
    busy = await t.gateway.registry.create(deviceRow({ id: 'cam-busy' }))

    const unit = await connectUnit(t.gateway.mqttUrl, front.id, front.secret)
    try {
      // One at a time, each seen in InfluxDB before the next: a heartbeat is stamped with its arrival
      // time, and two in the same millisecond would be one point.
      for (let i = 0; i < 5; i++) {
        await publish(unit, topicFor('heartbeat', front.id), heartbeat({ signalDbm: -60 - i }))
        await until(`heartbeat ${i + 1} is in InfluxDB`, async () => {
          const r = await api<HeartbeatsResponse>(
            base,
            'GET',
            `/api/v1/devices/${front.id}/heartbeats`,
            t.adminToken,
          )
          return r.body.points.length === i + 1 ? r.body.points : undefined
        })
      }
      clipEventId = await announce(unit, front.id, clipInfo(clip))
    } finally {
      await end(unit)
    }
    await until(
      'the event is indexed',
      () => t.gateway.events.index.get(clipEventId)?.clip.state === 'pending',
    )
    expect((await putClip(base, clipEventId, basic(front.id, front.secret), clip.buf)).status).toBe(201)
    await t.gateway.clips.idle()
    const hb = await api<HeartbeatsResponse>(
      base,
      'GET',
      `/api/v1/devices/${front.id}/heartbeats`,
      t.adminToken,
    )
    heartbeatTimes.push(...hb.body.points.map((p) => new Date(p.time).getTime()).sort((a, b) => a - b))

    const img = await uploadImage(base, t.adminToken, 'DS-100', '2.1.0')
    expect(img.status).toBe(201)
    image = { id: img.body.id, sha256: sha256Hex(img.bytes) }

    const now = Date.now()
    const opened = await api<CaseDetail>(base, 'POST', '/api/v1/cases', investigator, {
      number: 'PD-2026-0412',
      reason: 'Parcel theft at the front door',
      from: now - 3_600_000,
      to: now + 3_600_000,
      area: { kind: 'devices', ids: [front.id] },
    })
    expect(opened.status).toBe(201)
    caseId = opened.body.case.id
    expect(opened.body.events.map((e) => e.id)).toContain(clipEventId)
    const res = await fetch(`${base}/api/v1/cases/${caseId}/export`, { headers: bearer(investigator) })
    expect(res.status).toBe(200)
    const zip = Buffer.from(await res.arrayBuffer())
    zipSha = sha256Hex(zip)
    zipPath = path.join(tmp.dir, 'export.zip')
    fs.writeFileSync(zipPath, zip)
  })

  afterAll(async () => {
    await restored?.stop()
    await t?.stop().catch(() => {})
    tmp?.cleanup()
  })

  it('backs up under load: every event acknowledged before it started is in the backup', async () => {
    const unit: MqttClient = await connectUnit(t.gateway.mqttUrl, busy.id, busy.secret)
    const acked: string[] = []
    let stop = false
    // Bounded in count and time: a unit publishing events one after another, each waiting for its PUBACK.
    const load = (async () => {
      const until = Date.now() + 60_000
      for (let i = 0; i < 20_000 && !stop && Date.now() < until; i++) {
        const e = event()
        await publish(unit, topicFor('event', busy.id), e)
        acked.push(e.eventId)
      }
    })()
    await until('the unit is publishing', () => acked.length >= 20)
    ackedBeforeBackup = [...acked]
    const b = await doorstep('backup', '--data-dir', t.dataDir, '--to', backupDir)
    const duringBackup = acked.length - ackedBeforeBackup.length
    stop = true
    await load
    await end(unit)
    expect(b.err).not.toMatch(STACK_FRAME)
    expect(b.code, b.err).toBe(0)
    // The load really ran while the backup did.
    expect(duringBackup).toBeGreaterThan(0)
    expect(b.err).toMatch(/^backup: databases: doorstep\.db: \d+ pages/m)
    expect(b.err).toMatch(/^backup: clips: 2 files: 2 copied \(.+\), 0 unchanged$/m)
    expect(b.err).toMatch(/^backup: firmware: 1 files: 1 copied \(.+\), 0 unchanged$/m)
    expect(b.err).toMatch(/^backup: influxdb: \d+ files$/m)
    expect(b.err).toMatch(/^backup: done: /m)

    const manifest = JSON.parse(fs.readFileSync(path.join(backupDir, 'manifest.json'), 'utf8')) as {
      format: string
      generation: string
      files: Array<{ path: string; kind: string; sha256: string; bytes: number }>
    }
    expect(manifest.format).toBe('doorstep-backup/1')
    // Keys and secret hashes inside: the folder and the key copy are the owner's alone.
    expect(fs.statSync(backupDir).mode & 0o777).toBe(0o700)
    const keyEntry = manifest.files.find((f) => f.kind === 'key' && f.path.endsWith('/site.key'))
    expect(keyEntry?.path).toMatch(/\/keys\/keys\/site\.key$/)
    expect(fs.statSync(path.join(backupDir, keyEntry?.path ?? '')).mode & 0o777).toBe(0o600)
    // The evidence signing key too: without it a restored gateway could not sign, nor show its old keys.
    const evidenceKey = manifest.files.find((f) => f.kind === 'key' && f.path.endsWith('/evidence/key.pem'))
    expect(fs.statSync(path.join(backupDir, evidenceKey?.path ?? '')).mode & 0o777).toBe(0o600)
    const clipEntry = manifest.files.find((f) => f.path.endsWith(clip.sha256))
    expect(clipEntry).toMatchObject({ kind: 'clip', sha256: clip.sha256, bytes: clip.bytes })
    for (const f of manifest.files) {
      const buf = fs.readFileSync(path.join(backupDir, f.path))
      expect(createHash('sha256').update(buf).digest('hex')).toBe(f.sha256)
    }
    // The config it ran with, without the admin token.
    const config = fs.readFileSync(path.join(backupDir, manifest.generation, 'config.json'), 'utf8')
    expect(config).toContain('"source": "running gateway"')
    expect(config).not.toContain(t.adminToken)
    expect(config).not.toMatch(/adminToken/)
  })

  it('a second backup into the same dir copies only what changed', async () => {
    const clipFile = path.join(
      backupDir,
      'clips',
      clip.sha256.slice(0, 2),
      clip.sha256.slice(2, 4),
      clip.sha256,
    )
    const inode = fs.statSync(clipFile).ino
    const oldGen = (
      JSON.parse(fs.readFileSync(path.join(backupDir, 'manifest.json'), 'utf8')) as { generation: string }
    ).generation
    const b = await doorstep('backup', '--data-dir', t.dataDir, '--to', backupDir)
    expect(b.code, b.err).toBe(0)
    expect(b.err).toMatch(/^backup: clips: 2 files: 0 copied \(0 B\), 2 unchanged$/m)
    expect(b.err).toMatch(/^backup: firmware: 1 files: 0 copied \(0 B\), 1 unchanged$/m)
    expect(fs.statSync(clipFile).ino).toBe(inode)
    // The previous snapshot folder went once the new manifest was in place.
    expect(fs.existsSync(path.join(backupDir, oldGen))).toBe(false)

    before.devices = (
      await api<{ devices: DeviceView[] }>(base, 'GET', '/api/v1/devices', t.adminToken)
    ).body.devices
    before.caseDetail = (await api<CaseDetail>(base, 'GET', `/api/v1/cases/${caseId}`, investigator)).body
    before.auditEntries = (
      await api<ChainReport>(base, 'GET', '/api/v1/audit/verify', t.adminToken)
    ).body.entries
    expect(before.auditEntries).toBeGreaterThan(2)
  })

  it('backs up a stopped gateway: the config of its last start, its influxd started for the backup', async () => {
    await t.stop({ keepData: true })
    const dir = path.join(tmp.dir, 'stopped')
    const b = await doorstep('backup', '--data-dir', t.dataDir, '--to', dir)
    expect(b.code, b.err).toBe(0)
    expect(b.err).toMatch(/^backup: influxdb: \d+ files$/m)
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      generation: string
      source: { gatewayRunning: boolean }
    }
    expect(m.source.gatewayRunning).toBe(false)
    const config = fs.readFileSync(path.join(dir, m.generation, 'config.json'), 'utf8')
    expect(config).toContain('"source": "last gateway start"')
    expect(config).toContain(`"db": "${t.db}"`)
    // The influxd it started for the backup is gone again.
    expect(fs.existsSync(path.join(t.dataDir, 'influxdb', 'influxd.pid'))).toBe(false)
  })

  it('refuses a damaged backup with a report, and writes nothing', async () => {
    // The data dir is gone for good from here on.
    fs.rmSync(t.dataDir, { recursive: true, force: true })

    const damaged = path.join(tmp.dir, 'damaged')
    fs.cpSync(backupDir, damaged, { recursive: true })
    const m = JSON.parse(fs.readFileSync(path.join(damaged, 'manifest.json'), 'utf8')) as {
      generation: string
    }
    const clipCopy = path.join(
      damaged,
      'clips',
      clip.sha256.slice(0, 2),
      clip.sha256.slice(2, 4),
      clip.sha256,
    )
    const bytes = fs.readFileSync(clipCopy)
    bytes[100] = (bytes[100] as number) ^ 0x01
    fs.writeFileSync(clipCopy, bytes)
    fs.rmSync(path.join(damaged, m.generation, 'config.json'))
    const target = path.join(tmp.dir, 'not-restored')

    const r = await doorstep('restore', '--from', damaged, '--data-dir', target)
    expect(r.code).toBe(1)
    expect(r.err).toContain('doorstep restore: REFUSED')
    expect(r.err).toContain(
      `damaged: clips/${clip.sha256.slice(0, 2)}/${clip.sha256.slice(2, 4)}/${clip.sha256}: sha256 is `,
    )
    expect(r.err).toContain(`missing: ${m.generation}/config.json`)
    expect(r.err).toMatch(/2 of \d+ files missing or changed; nothing was restored/)
    expect(r.err).not.toMatch(STACK_FRAME)
    expect(fs.existsSync(target)).toBe(false)
  })

  it('restores onto an empty data dir; the gateway serves the same units, events, clips, case, audit and heartbeats', async () => {
    const r = await doorstep('restore', '--from', backupDir, '--data-dir', newDataDir)
    expect(r.err).not.toMatch(STACK_FRAME)
    expect(r.code, r.err).toBe(0)
    expect(r.err).toContain('restore: every file matches its sha256')
    expect(r.err).toMatch(/^restore: influxdb: database \S+ restored$/m)
    expect(r.out).toContain(`DOORSTEP_DATA_DIR=${newDataDir}`)
    const key = path.join(newDataDir, 'keys', 'site.key')
    expect(fs.readFileSync(key, 'utf8')).toBe('not a real key\n')
    expect(fs.statSync(key).mode & 0o777).toBe(0o600)

    // The data dir is restored; a shared PostgreSQL (a run on it) is not the data dir's, and stays.
    restored = await startTestGateway({
      ...sharedWith(t),
      DOORSTEP_DATA_DIR: newDataDir,
      DOORSTEP_INFLUX_URL: '',
      DOORSTEP_INFLUX_DB: t.db,
    })
    const g = restored.gateway
    const nbase = g.httpUrl
    const admin = restored.adminToken

    const devices = (await api<{ devices: DeviceView[] }>(nbase, 'GET', '/api/v1/devices', admin)).body
      .devices
    expect(devices.map((d) => [d.id, d.serial, d.district]).sort()).toEqual(
      before.devices.map((d) => [d.id, d.serial, d.district]).sort(),
    )
    // Units keep their secrets, and people their tokens.
    const unit = await connectUnit(g.mqttUrl, front.id, front.secret)
    await end(unit)
    const detail = await api<CaseDetail>(nbase, 'GET', `/api/v1/cases/${caseId}`, investigator)
    expect(detail.status).toBe(200)
    expect(detail.body.case).toEqual(before.caseDetail?.case)
    expect(detail.body.events.map((e) => e.id)).toEqual(before.caseDetail?.events.map((e) => e.id))
    expect(detail.body.holds).toEqual(before.caseDetail?.holds)

    // Every event acknowledged before the backup started.
    const missing = ackedBeforeBackup.filter((id) => !g.events.index.get(id))
    expect(missing).toEqual([])
    // ...and in InfluxDB: written before the snapshot (so in its backup), or replayed from the spool.
    const influxUrl = (
      JSON.parse(fs.readFileSync(path.join(newDataDir, 'gateway-run.json'), 'utf8')) as {
        influx: { url: string }
      }
    ).influx.url
    const ids = await until('the spool has replayed into the restored InfluxDB', async () => {
      const rows = await influxRows(
        influxUrl,
        t.db,
        `SELECT event_id FROM "events_1y"."event" WHERE device = '${busy.id}'`,
      )
      const have = new Set(rows.map((r) => r.event_id))
      return ackedBeforeBackup.every((id) => have.has(id)) ? have : undefined
    })
    expect(ids.size).toBeGreaterThanOrEqual(ackedBeforeBackup.length)

    const got = await fetch(`${nbase}/api/v1/clips/${clipEventId}`, { headers: bearer(admin) })
    expect(got.status).toBe(200)
    expect(sha256Hex(Buffer.from(await got.arrayBuffer()))).toBe(clip.sha256)
    expect(
      (await fetch(`${nbase}/api/v1/clips/${clipEventId}/thumb`, { headers: bearer(admin) })).status,
    ).toBe(200)

    // Firmware images: listed, and the stored file (content-addressed, what a unit downloads) intact.
    const fw = await api<FirmwareImage>(nbase, 'GET', `/api/v1/firmware/images/${image.id}`, admin)
    expect(fw.status).toBe(200)
    expect(fw.body.sha256).toBe(image.sha256)
    const h = image.sha256
    const stored = path.join(newDataDir, 'firmware', h.slice(0, 2), h.slice(2, 4), h)
    expect(sha256Hex(fs.readFileSync(stored))).toBe(image.sha256)

    const chain = await api<ChainReport>(nbase, 'GET', '/api/v1/audit/verify', admin)
    expect(chain.body).toMatchObject({ ok: true, problems: [] })
    expect(chain.body.entries).toBeGreaterThanOrEqual(before.auditEntries)
    const exports = await api<{ entries: AuditEntry[] }>(
      nbase,
      'GET',
      '/api/v1/audit?action=case.export',
      admin,
    )
    expect(exports.body.entries.map((e) => e.details)).toContainEqual(
      expect.objectContaining({ zipSha256: zipSha }),
    )

    const hb = await until('the heartbeats are served from the restored InfluxDB', async () => {
      const res = await api<HeartbeatsResponse>(nbase, 'GET', `/api/v1/devices/${front.id}/heartbeats`, admin)
      return res.body.points.length > 0 ? res.body.points : undefined
    })
    expect(hb.map((p) => new Date(p.time).getTime()).sort((a, b) => a - b)).toEqual(heartbeatTimes)
    expect(hb.map((p) => p.signal_dbm)).toEqual([-60, -61, -62, -63, -64])
  })

  it('usage and refusals: one line each, exit 2 for usage and 1 for a refusal, no stack trace', async () => {
    const usage = await doorstep('backup')
    expect(usage.code).toBe(2)
    expect(usage.err).toMatch(/^doorstep backup: give --to DIR\n/)
    const inside = await doorstep('backup', '--data-dir', newDataDir, '--to', path.join(newDataDir, 'b'))
    expect(inside.code).toBe(1)
    expect(inside.err).toMatch(/^doorstep backup: .* is inside the data dir; choose a folder outside it\n$/)
    const notEmpty = await doorstep('restore', '--from', backupDir, '--data-dir', newDataDir)
    expect(notEmpty.code).toBe(1)
    expect(notEmpty.err).toMatch(/^doorstep restore: .* is not empty; restore only into a new data dir\n$/)
    const notBackup = await doorstep('restore', '--from', tmp.dir, '--data-dir', path.join(tmp.dir, 'x'))
    expect(notBackup.code).toBe(1)
    expect(notBackup.err).toMatch(/holds no manifest\.json: not a Doorstep backup\n$/)
    for (const r of [usage, inside, notEmpty, notBackup]) expect(r.err).not.toMatch(STACK_FRAME)
  })

  it('an export made before the backup still verifies, with the restored gateway’s key', async () => {
    const keys = await doorstep('keys', '--data-dir', newDataDir, '--json')
    expect(keys.code).toBe(0)
    const [current] = (JSON.parse(keys.out) as { keys: Array<{ fingerprint: string }> }).keys
    const v = await doorstep('verify', zipPath, '--key', current?.fingerprint ?? 'none')
    expect(v.out).toContain('VERDICT: PASS')
    expect(v.code).toBe(0)
  })
})
