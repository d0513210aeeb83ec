import type { CaseDetail, CasePreview, CaseView, PullView, ServerFrame } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, type ClipFile, makeClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'
import { TestUnit } from './helpers.js'

type PullFrame = Extract<ServerFrame, { type: 'pull' }>
type CaseFrame = Extract<ServerFrame, { type: 'case' }>
const pullFrames = (frames: ServerFrame[], pullId: string) =>
  frames.filter((f): f is PullFrame => f.type === 'pull' && f.pullId === pullId)
const caseFrames = (frames: ServerFrame[]) => frames.filter((f): f is CaseFrame => f.type === 'case')

/*
 * An investigator's case page follows its pulls live over the alert socket: the gateway says when a
 * case opens or closes and how each pull stands, so the page never polls. Ops have no cases: their
 * sockets get none of it.
 */
describe('case and pull progress on the alert socket (real gateway, a unit uploading over HTTP)', () => {
  let t: TestGateway
  let fixtures: { dir: string; cleanup: () => void }
  let clip: ClipFile
  let investigator: string
  let ops: string
  let unit: TestUnit
  let neighbour: MqttClient

  beforeAll(async () => {
    fixtures = tempDir('doorstep-live-progress-')
    clip = makeClip(fixtures.dir, 'recording', { seconds: 4 })
    t = await startTestGateway()
    investigator = (await t.gateway.tokens.issue('Inspector Ma', 'investigator')).token
    ops = (await t.gateway.tokens.issue('Ops desk', 'ops')).token
    const c = await t.gateway.registry.create(
      deviceRow({ id: 'shop-live-1', district: 7, releasePolicy: 'always' }),
    )
    unit = new TestUnit({
      baseUrl: t.gateway.httpUrl,
      mqttUrl: t.gateway.mqttUrl,
      id: c.id,
      secret: c.secret,
      clip,
      holdHalfway: true,
    })
    await unit.connect()
    const n = await t.gateway.registry.create(
      deviceRow({ id: 'home-live-2', district: 7, releasePolicy: 'ask' }),
    )
    neighbour = await connectUnit(t.gateway.mqttUrl, n.id, n.secret)
  })
  afterAll(async () => {
    if (neighbour) await end(neighbour)
    await unit?.disconnect().catch(() => undefined)
    await t?.stop()
    fixtures?.cleanup()
  })

  it('says what a case would cover before it is opened, and opens nothing', async () => {
    const eventId = await announce(neighbour, 'home-live-2', undefined, { kind: 'person' })
    await until(
      'the event indexed',
      async () =>
        (await api(t.gateway.httpUrl, 'GET', `/api/v1/events/${eventId}`, investigator)).status === 200,
      10_000,
    )
    const now = Date.now()
    const ask = (body: unknown) =>
      api<CasePreview>(t.gateway.httpUrl, 'POST', '/api/v1/cases/preview', investigator, body)
    const district = await ask({
      from: now - 600_000,
      to: now + 1000,
      area: { kind: 'district', district: 7 },
    })
    expect(district.status).toBe(200)
    expect(district.body).toEqual({
      devices: 2,
      byPolicy: { always: 1, ask: 1, never: 0 },
      online: 2,
      events: 1,
      withClip: 0,
    })
    const one = await ask({
      from: now - 600_000,
      to: now + 1000,
      area: { kind: 'devices', ids: ['shop-live-1'] },
    })
    expect(one.body).toMatchObject({ devices: 1, events: 0 })
    // The same window rules as opening a case, and the same roles.
    const backwards = await ask({ from: now, to: now - 1000, area: { kind: 'district', district: 7 } })
    expect(backwards.status).toBe(400)
    const asOps = await api(t.gateway.httpUrl, 'POST', '/api/v1/cases/preview', ops, {
      from: now - 1000,
      to: now,
      area: { kind: 'district', district: 7 },
    })
    expect(asOps.status).toBe(403)
    const list = await api<{ cases: CaseView[] }>(t.gateway.httpUrl, 'GET', '/api/v1/cases', investigator)
    expect(list.body.cases).toEqual([])
  })

  it('tells investigators a case opened, each step of its pull, and that it closed; ops nothing', async () => {
    const inv = await openAlerts(t.gateway.httpUrl, investigator)
    const desk = await openAlerts(t.gateway.httpUrl, ops)
    const admin = await openAlerts(t.gateway.httpUrl, t.adminToken)
    try {
      const now = Date.now()
      const opened = await api<CaseDetail>(t.gateway.httpUrl, 'POST', '/api/v1/cases', investigator, {
        number: 'LIVE-2026-001',
        reason: 'shop theft, live progress',
        from: now - 600_000,
        to: now,
        area: { kind: 'devices', ids: ['shop-live-1'] },
      })
      expect(opened.status).toBe(201)
      const caseId = opened.body.case.id
      await until('the case frame', () => caseFrames(inv.frames).length > 0, 5_000)
      expect(caseFrames(inv.frames)[0]).toEqual({
        type: 'case',
        caseId,
        number: 'LIVE-2026-001',
        state: 'open',
      })

      const asked = await api<{ pulls: PullView[] }>(
        t.gateway.httpUrl,
        'POST',
        `/api/v1/cases/${caseId}/pulls`,
        investigator,
        {},
      )
      expect(asked.status).toBe(201)
      const pullId = asked.body.pulls[0]?.id ?? ''
      expect(pullId).not.toBe('')

      // Half the recording is up and the unit waits: the page shows bytes and the size to come.
      await until(
        'an uploading frame with bytes',
        () => pullFrames(inv.frames, pullId).some((f) => f.state === 'uploading' && f.bytes > 0),
        20_000,
      )
      const mid = pullFrames(inv.frames, pullId).filter((f) => f.state === 'uploading' && f.bytes > 0)
      expect(mid.at(-1)?.total).toBe(clip.buf.length)
      expect(mid.at(-1)?.bytes).toBeLessThan(clip.buf.length)

      unit.release()
      await until(
        'the done frame',
        () => pullFrames(inv.frames, pullId).some((f) => f.state === 'done'),
        30_000,
      )
      const steps = pullFrames(inv.frames, pullId)
      const done = steps.find((f) => f.state === 'done')
      expect(done).toMatchObject({ caseId, deviceId: 'shop-live-1', district: 7, bytes: clip.buf.length })
      // States arrive in the order they happened; nothing after done.
      expect(steps.at(-1)?.state).toBe('done')
      expect(steps[0]?.state).toBe('pending')
      // The frames agree with the API.
      const detail = await api<CaseDetail>(t.gateway.httpUrl, 'GET', `/api/v1/cases/${caseId}`, investigator)
      expect(detail.body.devices[0]?.pull?.state).toBe('done')

      const closed = await api(t.gateway.httpUrl, 'POST', `/api/v1/cases/${caseId}/close`, investigator, {})
      expect(closed.status).toBe(200)
      await until('the closed frame', () => caseFrames(inv.frames).some((f) => f.state === 'closed'), 5_000)

      // Admins see cases too; ops never do.
      expect(pullFrames(admin.frames, pullId).some((f) => f.state === 'done')).toBe(true)
      expect(desk.frames.filter((f) => f.type === 'pull' || f.type === 'case')).toEqual([])
      expect(desk.frames[0]?.type).toBe('ready')
    } finally {
      inv.close()
      desk.close()
      admin.close()
    }
  }, 90_000)
})
