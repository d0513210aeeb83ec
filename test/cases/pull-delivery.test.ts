import type { CaseDetail, PullView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClipFile, makeClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { pullOf, TestUnit } from './helpers.js'

describe('pull delivery: the district budget, a unit that drops mid-upload, a persistent session', () => {
  let t: TestGateway
  let base: string
  let fixtures: { dir: string; cleanup: () => void }
  let clip: ClipFile
  let token: string
  const u: Record<string, TestUnit> = {}

  const pulls = async (caseId: string) =>
    (await api<{ pulls: PullView[] }>(base, 'GET', `/api/v1/cases/${caseId}/pulls`, token)).body.pulls
  const pullState = async (caseId: string, deviceId: string) => pullOf(await pulls(caseId), deviceId)
  const openCase = async (number: string, ids: string[]) => {
    const now = Date.now()
    const res = await api<CaseDetail>(base, 'POST', '/api/v1/cases', token, {
      number,
      reason: 'pull delivery test',
      from: now - 600_000,
      to: now,
      area: { kind: 'devices', ids },
    })
    expect(res.status).toBe(201)
    return res.body.case.id
  }

  beforeAll(async () => {
    fixtures = tempDir('doorstep-pulls-')
    clip = makeClip(fixtures.dir, 'recording')
    t = await startTestGateway({ DOORSTEP_PULL_DISTRICT_CONCURRENCY: 1 })
    base = t.gateway.httpUrl
    token = (await t.gateway.tokens.issue('Inspector Ma', 'investigator')).token
    const mk = async (id: string, district: number, persistent = false) => {
      const c = await t.gateway.registry.create(deviceRow({ id, district, releasePolicy: 'always' }))
      u[id] = new TestUnit({
        baseUrl: base,
        mqttUrl: t.gateway.mqttUrl,
        id: c.id,
        secret: c.secret,
        clip,
        holdHalfway: true,
        persistent,
      })
    }
    await mk('village-1', 9)
    await mk('village-2', 9)
    await mk('village-3', 9)
    await mk('town-1', 10)
    await mk('farm-1', 11, true)
  })
  afterAll(async () => {
    for (const unit of Object.values(u)) await unit.disconnect().catch(() => {})
    await t?.stop()
    fixtures?.cleanup()
  })

  it('sends at most the district budget at once; the rest wait their turn, oldest first', async () => {
    const units = ['village-1', 'village-2', 'village-3', 'town-1'].map((id) => u[id] as TestUnit)
    await Promise.all(units.map((x) => x.connect()))
    const caseId = await openCase('BUDGET-1', ['village-1', 'village-2', 'village-3', 'town-1'])
    await api(base, 'POST', `/api/v1/cases/${caseId}/pulls`, token, {})
    const [v1, v2, v3, town] = units as [TestUnit, TestUnit, TestUnit, TestUnit]
    await until(
      'the first units get their commands',
      () => v1.commands.length === 1 && town.commands.length === 1,
    )
    await Promise.all([v2, v3].map((x) => x.drained(t.gateway.broker)))
    // District 9 has room for one; district 10 has its own budget.
    expect([v2.commands.length, v3.commands.length]).toEqual([0, 0])
    expect(await pullState(caseId, 'village-2')).toMatchObject({ state: 'pending', sentAt: null })

    v1.release()
    await until('the next unit of the district is sent its pull', () => v2.commands.length === 1)
    expect((await pullState(caseId, 'village-1')).state).toBe('done')
    expect(v3.commands).toHaveLength(0)

    // The second unit's uplink drops halfway: its pull waits for it and frees the district's slot.
    const half = Math.floor(clip.bytes / 2)
    await until('halfway', async () => (await pullState(caseId, 'village-2')).bytes === half)
    v2.drop()
    await until(
      'the pull waits for the unit',
      async () => (await pullState(caseId, 'village-2')).state === 'offline',
    )
    await until('the slot goes to the third unit', () => v3.commands.length === 1)

    // It comes back while the slot is taken: the pull waits in line, not sent yet.
    v2.release()
    await v2.connect()
    await until('back in line', async () => (await pullState(caseId, 'village-2')).state === 'pending')
    expect(v2.commands).toHaveLength(1)

    v3.release()
    await until('the returning unit is sent its pull again', () => v2.commands.length === 2)
    expect(v2.commands[1]?.cmdId).toBe(v2.commands[0]?.cmdId)
    const done = await until('done', async () => {
      const p = await pullState(caseId, 'village-2')
      return p.state === 'done' ? p : undefined
    })
    expect(done).toMatchObject({ sends: 2, bytes: clip.bytes, recording: { sha256: clip.sha256 } })
    // The upload resumed where the gateway's HEAD said it stood. The pull is done once the recording is
    // stored, a moment before the unit has the PUT's answer: wait for it.
    await until('the unit has its answer', () => v2.puts.some((p) => p.status === 201))
    const puts = v2.puts.filter((p) => p.status < 300)
    expect(puts.at(-1)).toMatchObject({ from: half, to: clip.bytes, status: 201 })
    town.release()
    await until('all done', async () => (await pulls(caseId)).every((p) => p.state === 'done'))
  })

  it('a unit with a persistent session gets its pull on reconnect without subscribing again', async () => {
    const farm = u['farm-1'] as TestUnit
    farm.release()
    await farm.connect()
    await farm.disconnect()
    const caseId = await openCase('FARM-1', ['farm-1'])
    await api(base, 'POST', `/api/v1/cases/${caseId}/pulls`, token, {})
    expect((await pullState(caseId, 'farm-1')).state).toBe('offline')
    await farm.connect({ subscribe: false })
    await until('the restored session gets the command', () => farm.commands.length === 1)
    await until('done', async () => (await pullState(caseId, 'farm-1')).state === 'done')
    // Delivered once: the gateway sends from its own table, never also through the broker's offline queue.
    await farm.drained(t.gateway.broker)
    expect(farm.commands).toHaveLength(1)
  })

  it('refuses uploads from another unit, before consent, and past the announced size', async () => {
    const caseId = await openCase('UPLOADS-1', ['town-1', 'village-1'])
    const p = (await api<{ pulls: PullView[] }>(base, 'POST', `/api/v1/cases/${caseId}/pulls`, token, {}))
      .body.pulls
    const town = pullOf(p, 'town-1')
    const other = u['village-1'] as TestUnit
    const url = `${base}/api/v1/pulls/${town.id}/upload`
    const wrong = await fetch(url, {
      method: 'PUT',
      headers: { authorization: other.auth, 'content-type': 'video/mp4' },
      body: new Uint8Array(clip.buf),
    })
    expect(wrong.status).toBe(403)
    const noAuth = await fetch(url, { method: 'PUT', headers: { 'content-type': 'video/mp4' }, body: 'x' })
    expect(noAuth.status).toBe(401)
  })
})
