import { type CaseDetail, Command, type CustodyEntry, type PullView, topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { until } from '../helpers/wait.js'

describe("a unit's repeated acks do not grow its case's custody log", () => {
  let t: TestGateway
  let unit: MqttClient
  let token: string
  const commands: Command[] = []

  beforeAll(async () => {
    t = await startTestGateway()
    token = (await t.gateway.tokens.issue('Inspector Lu', 'investigator')).token
    const cam = await t.gateway.registry.create(deviceRow({ id: 'cam-noisy-1', releasePolicy: 'always' }))
    unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    unit.on('message', (_topic, payload) => commands.push(Command.parse(JSON.parse(payload.toString()))))
    await new Promise<void>((resolve, reject) =>
      unit.subscribe(topicFor('cmd', cam.id), { qos: 1 }, (err) => (err ? reject(err) : resolve())),
    )
  })
  afterAll(async () => {
    if (unit) await end(unit)
    await t?.stop()
  })

  it('records the first of 40 `done` and `accepted` acks; the rest add no entry', async () => {
    const base = t.gateway.httpUrl
    const now = Date.now()
    const opened = await api<CaseDetail>(base, 'POST', '/api/v1/cases', token, {
      number: 'NOISE-1',
      reason: 'custody noise',
      from: now - 600_000,
      to: now,
      area: { kind: 'devices', ids: ['cam-noisy-1'] },
    })
    expect(opened.status).toBe(201)
    const caseId = opened.body.case.id
    expect((await api(base, 'POST', `/api/v1/cases/${caseId}/pulls`, token, {})).status).toBe(201)
    const cmd = await until('the pull command', () => commands[0])
    const ack = (status: 'accepted' | 'uploading' | 'done', bytes: number) =>
      publish(unit, topicFor('cmdAck', 'cam-noisy-1'), {
        v: 1,
        ts: Date.now(),
        cmdId: cmd.cmdId,
        status,
        bytes,
      })
    const custody = async () =>
      (await api<{ entries: CustodyEntry[] }>(base, 'GET', `/api/v1/cases/${caseId}/custody`, token)).body
        .entries

    await ack('accepted', 0)
    await ack('done', 10)
    await until('both on the record', async () => {
      const actions = (await custody()).map((e) => e.action)
      return actions.includes('pull.accepted') && actions.includes('pull.unit-done')
    })
    const before = (await custody()).length
    for (let i = 0; i < 20; i++) {
      await ack('done', 10)
      await ack('accepted', 10)
    }
    // Acks are handled in the order they came: once this progress report shows, the 40 before it were.
    await ack('uploading', 11)
    await until('the last ack handled', async () => {
      const p = await api<PullView>(base, 'GET', `/api/v1/pulls/${cmd.cmdId}`, token)
      return p.body.bytes === 11
    })
    const after = await custody()
    expect(after.length).toBe(before)
    expect(after.filter((e) => e.action === 'pull.unit-done')).toHaveLength(1)
    expect(after.filter((e) => e.action === 'pull.accepted')).toHaveLength(1)
  })
})
