import fs from 'node:fs'
import path from 'node:path'
import { type NotificationPayload, topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event } from '../helpers/payloads.js'
import { capturingLogger, notifyApi, startReceiver, verifyWebhook } from './helpers.js'

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16)

describe('notifications by signed webhook (real gateway, real MQTT units)', () => {
  let t: TestGateway
  let n: ReturnType<typeof notifyApi>
  const logs = capturingLogger()
  const secrets: string[] = []
  const receivers: Array<{ close(): Promise<void> }> = []

  beforeAll(async () => {
    t = await startTestGateway(
      { DOORSTEP_NOTIFY_ATTEMPTS: 3, DOORSTEP_NOTIFY_RETRY_BASE_MS: 100, DOORSTEP_NOTIFY_TIMEOUT_MS: 3000 },
      { log: logs.log },
    )
    n = notifyApi(t.gateway.httpUrl, t.adminToken)
  })
  afterAll(async () => {
    await t?.stop()
    for (const r of receivers) await r.close()
  })

  const receiver = async (statuses?: number[]) => {
    const r = await startReceiver(statuses)
    receivers.push(r)
    return r
  }
  const webhook = async (url: string) => {
    const c = await n.channel({ type: 'webhook', name: `hook ${secrets.length}`, url })
    expect(c.secret).toMatch(/^whsec_/)
    secrets.push(c.secret as string)
    return c
  }
  const unit = async (id: string, district: number) => {
    const c = await t.gateway.registry.create(deviceRow({ id, district }))
    return { creds: c, mqtt: await connectUnit(t.gateway.mqttUrl, c.id, c.secret) }
  }
  const payloadOf = (b: Buffer) => JSON.parse(b.toString()) as NotificationPayload

  it('an offline unit is told once, signed, after a 500 and a retry', async () => {
    const r = await receiver([500, 200])
    const hook = await webhook(r.url)
    const rule = await n.rule({
      name: 'offline in 41',
      kind: 'offline',
      district: 41,
      offlineMinutes: 0.005,
      channels: [hook.id],
    })
    const u = await unit('cam-nt-off-1', 41)
    await end(u.mqtt)
    await expect
      .poll(async () => (await n.notifications(rule.id)).map((x) => [x.status, x.attempts]), {
        timeout: 10_000,
      })
      .toEqual([['sent', 2]])
    expect(r.received.map((x) => x.status)).toEqual([500, 200])
    const [first, second] = r.received
    if (!first || !second) throw new Error('two tries expected')
    for (const x of r.received) {
      expect(verifyWebhook(hook.secret as string, x)).toBe(true)
      // A byte changed in transit, or another channel's secret, fails the check.
      expect(verifyWebhook('whsec_other', x)).toBe(false)
      expect(verifyWebhook(hook.secret as string, { ...x, body: Buffer.from(`${x.body} `) })).toBe(false)
    }
    // A replayed request (its timestamp ten minutes old by the receiver's clock) is refused.
    expect(verifyWebhook(hook.secret as string, second, Date.now() + 10 * 60_000)).toBe(false)
    expect(first.headers['x-doorstep-delivery']).toBe(second.headers['x-doorstep-delivery'])
    expect(payloadOf(second.body)).toMatchObject({
      ruleId: rule.id,
      kind: 'offline',
      severity: 'warning',
      deviceId: 'cam-nt-off-1',
      district: 41,
      suppressedCount: 0,
    })

    // Exactly once: a second unit's notification through the same rule arrives, and the first is not repeated.
    const v = await unit('cam-nt-off-2', 41)
    await end(v.mqtt)
    await expect.poll(() => r.received.length, { timeout: 10_000 }).toBe(3)
    expect(r.received.map((x) => payloadOf(x.body).deviceId)).toEqual([
      'cam-nt-off-1',
      'cam-nt-off-1',
      'cam-nt-off-2',
    ])
  })

  it('a unit back online before its offline minutes is not told', async () => {
    const r = await receiver()
    const hook = await webhook(r.url)
    await n.rule({
      name: 'offline 42',
      kind: 'offline',
      district: 42,
      offlineMinutes: 0.02,
      channels: [hook.id],
    })
    const u = await unit('cam-nt-blip', 42)
    await end(u.mqtt)
    const back = await connectUnit(t.gateway.mqttUrl, u.creds.id, u.creds.secret)
    // Then another unit goes and stays offline: its notification is the later signal.
    const w = await unit('cam-nt-gone', 42)
    await end(w.mqtt)
    await expect.poll(() => r.received.length, { timeout: 10_000 }).toBe(1)
    expect(payloadOf(r.received[0]?.body ?? Buffer.alloc(0)).deviceId).toBe('cam-nt-gone')
    await end(back)
  })

  it('after the last failed try it is a dead letter, shown to admins', async () => {
    const r = await receiver([503])
    const hook = await webhook(r.url)
    const rule = await n.rule({ name: 'tamper 43', kind: 'tamper', district: 43, channels: [hook.id] })
    const u = await unit('cam-nt-dead', 43)
    await publish(u.mqtt, topicFor('event', u.creds.id), event({ kind: 'tamper' }))
    await expect
      .poll(async () => (await n.notifications(rule.id)).map((x) => x.status), { timeout: 10_000 })
      .toEqual(['failed'])
    expect(r.received).toHaveLength(3)
    const [row] = await n.notifications(rule.id)
    expect(row).toMatchObject({ attempts: 3, severity: 'critical', reason: 'the webhook answered 503' })
    expect((await n.deadLetters()).map((d) => d.id)).toContain(row?.id)
    await end(u.mqtt)
  })

  it('a flapping unit sends one notification per window, then one summary with the count', async () => {
    const r = await receiver()
    const hook = await webhook(r.url)
    const rule = await n.rule({
      name: 'flaps in 44',
      kind: 'offline',
      district: 44,
      offlineMinutes: 0,
      windowS: 3,
      channels: [hook.id],
    })
    const c = await t.gateway.registry.create(deviceRow({ id: 'cam-nt-flap', district: 44 }))
    for (let i = 0; i < 5; i++) await end(await connectUnit(t.gateway.mqttUrl, c.id, c.secret))
    await expect
      .poll(async () => (await n.notifications(rule.id)).filter((x) => x.status === 'suppressed').length)
      .toBe(4)
    expect(r.received).toHaveLength(1)
    // The window closes: one summary standing for the four repeats.
    await expect.poll(() => r.received.length, { timeout: 10_000 }).toBe(2)
    const summary = payloadOf(r.received[1]?.body ?? Buffer.alloc(0))
    expect(summary).toMatchObject({ deviceId: 'cam-nt-flap', suppressedCount: 4 })
    expect(summary.message).toContain('4 more in 3 s')
  })

  it('quiet hours hold back a warning but let a critical one through', async () => {
    const r = await receiver()
    const hook = await webhook(r.url)
    const now = Date.now()
    const quietHours = { start: hhmm(now - 3_600_000), end: hhmm(now + 3_600_000), timeZone: 'UTC' }
    const quiet = await n.rule({
      name: 'quiet offline 45',
      kind: 'offline',
      district: 45,
      offlineMinutes: 0,
      quietHours,
      channels: [hook.id],
    })
    const loud = await n.rule({
      name: 'tamper 45',
      kind: 'tamper',
      district: 45,
      quietHours,
      channels: [hook.id],
    })
    const u = await unit('cam-nt-quiet', 45)
    await end(u.mqtt)
    await expect
      .poll(async () => (await n.notifications(quiet.id)).map((x) => [x.status, x.reason]))
      .toEqual([['suppressed', 'quiet hours']])
    const v = await unit('cam-nt-tamper', 45)
    await publish(v.mqtt, topicFor('event', v.creds.id), event({ kind: 'tamper' }))
    await expect.poll(async () => (await n.notifications(loud.id)).map((x) => x.status)).toEqual(['sent'])
    expect(r.received.map((x) => payloadOf(x.body).kind)).toEqual(['tamper'])
    await end(v.mqtt)
  })

  it('a paused firmware campaign is told to the rules of its districts', async () => {
    const r = await receiver()
    const hook = await webhook(r.url)
    const rule = await n.rule({
      name: 'campaigns 46',
      kind: 'campaign-paused',
      district: 46,
      channels: [hook.id],
    })
    const campaign = (id: string, districts: number[], state: 'paused' | 'running' = 'paused') =>
      t.gateway.bus.emit('campaign.changed', {
        campaignId: id,
        name: `fw ${id}`,
        state,
        reason: state === 'paused' ? 'failure rate 12% over 5%' : null,
        districts,
        at: Date.now(),
      })
    campaign('c-other', [5])
    campaign('c-running', [46], 'running')
    campaign('c-46', [45, 46])
    await expect.poll(() => r.received.length).toBe(1)
    expect(payloadOf(r.received[0]?.body ?? Buffer.alloc(0))).toMatchObject({
      kind: 'campaign-paused',
      campaignId: 'c-46',
      deviceId: null,
      district: 46,
    })
    expect((await n.notifications(rule.id))[0]?.message).toContain('failure rate 12%')
  })

  it('only admins manage rules and channels; every change is audited', async () => {
    const ops = (await t.gateway.tokens.issue('ops-nt', 'ops')).token
    const body = { type: 'webhook', name: 'x', url: 'http://127.0.0.1:9/' }
    expect((await api(t.gateway.httpUrl, 'POST', '/api/v1/notify/channels', ops, body)).status).toBe(403)
    expect((await api(t.gateway.httpUrl, 'GET', '/api/v1/notify/rules', ops)).status).toBe(403)
    // A rule naming a channel that does not exist is refused.
    const bad = await api<{ error: { code: string } }>(
      t.gateway.httpUrl,
      'POST',
      '/api/v1/notify/rules',
      t.adminToken,
      {
        name: 'nowhere',
        kind: 'tamper',
        channels: ['00000000-0000-4000-8000-000000000000'],
      },
    )
    expect(bad.status).toBe(422)
    expect(bad.body.error.code).toBe('DOORSTEP_ERR_NOTIFY_CHANNEL_UNKNOWN')
    // A channel a rule uses cannot be removed.
    const channels = (
      await api<{ channels: Array<{ id: string }> }>(
        t.gateway.httpUrl,
        'GET',
        '/api/v1/notify/channels',
        t.adminToken,
      )
    ).body.channels
    const used = await api<{ error: { code: string } }>(
      t.gateway.httpUrl,
      'DELETE',
      `/api/v1/notify/channels/${channels[0]?.id}`,
      t.adminToken,
    )
    expect(used.body.error.code).toBe('DOORSTEP_ERR_NOTIFY_CHANNEL_IN_USE')
    const audit = (
      await api<{ entries: Array<{ action: string }> }>(
        t.gateway.httpUrl,
        'GET',
        '/api/v1/audit?limit=500',
        t.adminToken,
      )
    ).body.entries.map((e) => e.action)
    expect(audit.filter((a) => a === 'notify.channel.create').length).toBe(secrets.length)
    expect(audit).toContain('notify.rule.create')
  })

  it('no secret is in any answer after creation, in the audit log or in the log', async () => {
    expect(secrets.length).toBeGreaterThan(3)
    const base = t.gateway.httpUrl
    const rules = (
      await api<{ rules: Array<{ id: string }> }>(base, 'GET', '/api/v1/notify/rules', t.adminToken)
    ).body.rules
    const answers = [
      await api(base, 'GET', '/api/v1/notify/channels', t.adminToken),
      await api(base, 'GET', '/api/v1/notify/rules', t.adminToken),
      await api(base, 'GET', '/api/v1/notify/dead-letters', t.adminToken),
      await api(base, 'GET', '/api/v1/audit?limit=500', t.adminToken),
      ...(await Promise.all(
        rules.map((r) => api(base, 'GET', `/api/v1/notify/rules/${r.id}/notifications`, t.adminToken)),
      )),
    ].map((a) => JSON.stringify(a.body))
    const vapid = JSON.parse(fs.readFileSync(path.join(t.dataDir, 'notify', 'vapid.json'), 'utf8')) as {
      privateKey: string
    }
    const log = logs.text()
    // The dead letter above was logged: the log is not empty of notify lines.
    expect(log).toContain('dead letter')
    for (const s of [...secrets, vapid.privateKey]) {
      for (const a of answers) expect(a.includes(s), 'a secret in an API answer').toBe(false)
      expect(log.includes(s), 'a secret in the log').toBe(false)
    }
  })
})
