import { createECDH, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { NotificationPayload } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { notifyApi, startReceiver, verifyWebhook } from '../notify/helpers.js'

/*
 * The notifications page against a real gateway: an admin adds a webhook channel pointing at a receiver
 * on loopback (its secret shown once), then a rule, both from the forms; a real unit goes offline, the
 * receiver gets the signed notification, and the rule's record on the page says sent. "Notify this
 * browser" either subscribes or says why it cannot; the page reads in Chinese; an owner is refused and
 * ops see only their browser's part.
 */

const UI_TIMEOUT = 15_000
const DISTRICT = 41

describe('the notifications page', { timeout: 120_000 }, () => {
  let gw: TestGateway
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  const browsers: TestBrowser[] = []
  let admin: TestBrowser
  let secret = ''

  const open = async (opts: { locale?: 'en' | 'zh-CN' } = {}) => {
    const b = await launchBrowser(opts)
    browsers.push(b)
    return b
  }

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({
      DOORSTEP_NOTIFY_ATTEMPTS: 3,
      DOORSTEP_NOTIFY_RETRY_BASE_MS: 100,
      DOORSTEP_NOTIFY_TIMEOUT_MS: 3000,
    })
    receiver = await startReceiver([200])
  })

  afterAll(async () => {
    for (const b of browsers) await b.close()
    await gw?.stop()
    await receiver?.close()
  })

  it('adds a webhook channel; its secret is shown once and never again', async () => {
    admin = await open()
    const page = admin.page
    await signIn(page, gw.adminToken, gw.gateway.httpUrl)
    await page.getByTestId('nav-ops').click()
    await page.getByTestId('ops-tab-notify').click()
    await page.getByTestId('channel-form').waitFor({ timeout: UI_TIMEOUT })
    await page.getByLabel('Type', { exact: true }).selectOption('webhook')
    await page.getByLabel('Name', { exact: true }).first().fill('Duty desk')
    await page.getByLabel('Webhook URL').fill(`${receiver.url}/hook`)
    await page.getByTestId('channel-submit').click()
    const value = page.getByTestId('channel-secret-value')
    await value.waitFor({ timeout: UI_TIMEOUT })
    secret = await value.inputValue()
    expect(secret).toMatch(/^whsec_/)
    await page.getByTestId('channel-table').getByText('Duty desk').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('channel-secret').getByRole('button', { name: 'Done' }).click()
    expect(await page.getByTestId('channel-secret').count()).toBe(0)
    // Not in the list, nor anywhere on the page after a reload.
    await page.reload()
    await page.getByTestId('channel-table').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.content()).not.toContain(secret)
  })

  it('names a refused field of a rule beside it', async () => {
    const page = admin.page
    // Quiet hours with one end only: the gateway says which end, under the quiet hours.
    await page.getByLabel('From', { exact: true }).fill('22:00')
    await page.getByTestId('rule-submit').click()
    await page.getByTestId('error-rule-name').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('error-rule-channels').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('error-rule-quiet').textContent()).toContain('HH:MM')
    await page.getByLabel('From', { exact: true }).fill('')
    expect(admin.errors.every((e) => e.includes('400 (Bad Request)'))).toBe(true)
    admin.errors.length = 0
  })

  it('a rule made in the form fires when a unit goes offline, and its record shows it sent', async () => {
    const page = admin.page
    const form = page.getByTestId('rule-form')
    await form.getByLabel('Name', { exact: true }).fill(`Offline in district ${DISTRICT}`)
    await form.getByLabel('When', { exact: true }).selectOption('offline')
    await form.getByLabel('District', { exact: true }).fill(String(DISTRICT))
    await form.getByLabel('Offline for (minutes)').fill('0.01')
    await form.getByLabel(/Duty desk/).check()
    await page.getByTestId('rule-submit').click()
    const rule = page.locator(`[data-name="Offline in district ${DISTRICT}"]`)
    await rule.waitFor({ timeout: UI_TIMEOUT })
    await rule.getByTestId('rule-record-toggle').click()
    const record = page
      .locator('[data-testid^=rule-record-]')
      .filter({ has: page.getByTestId('record-refresh') })
    await record.getByTestId('rule-notifications-none').waitFor({ timeout: UI_TIMEOUT })

    const c = await gw.gateway.registry.create(deviceRow({ id: 'cam-notify-ui-1', district: DISTRICT }))
    const unit = await connectUnit(gw.gateway.mqttUrl, c.id, c.secret)
    await end(unit)
    await expect.poll(() => receiver.received.length, { timeout: 20_000 }).toBe(1)
    const got = receiver.received[0]
    if (!got) throw new Error('no webhook')
    expect(verifyWebhook(secret, got)).toBe(true)
    expect(JSON.parse(got.body.toString()) as NotificationPayload).toMatchObject({
      kind: 'offline',
      deviceId: 'cam-notify-ui-1',
      district: DISTRICT,
    })

    // The record follows the fleet's moves; the button asks at once.
    await expect
      .poll(
        async () => {
          await record.getByTestId('record-refresh').click()
          return record.locator('[data-testid=notification][data-status=sent]').count()
        },
        { timeout: UI_TIMEOUT },
      )
      .toBe(1)
    expect(await record.getByTestId('count-sent').textContent()).toBe('Sent: 1')
    expect(await record.getByTestId('rule-notifications').textContent()).toContain('device:cam-notify-ui-1')
    await admin.screenshot('notify-rule-sent-en')
    expect(admin.errors).toEqual([])
  })

  it('"Notify this browser" subscribes, or says plainly why it cannot', async () => {
    const page = admin.page
    await admin.context.grantPermissions(['notifications'], { origin: gw.gateway.httpUrl })
    await page.getByTestId('push-subscribe').click()
    const said = page.getByTestId('push-outcome')
    await said.waitFor({ timeout: UI_TIMEOUT })
    const outcome = await said.getAttribute('data-outcome')
    // Headless Chromium here has no push service to reach; a browser with one subscribes.
    expect(['subscribed', 'no-service']).toContain(outcome)
    await admin.screenshot('notify-push-en')
    const text = (await said.textContent()) ?? ''
    expect(text).toContain(
      outcome === 'subscribed'
        ? 'This browser will be notified.'
        : 'This browser could not subscribe with a push service',
    )
    // The service worker the subscription needs is served beside the page.
    const worker = await fetch(`${gw.gateway.httpUrl}/push-sw.js`)
    expect(worker.status).toBe(200)
    expect(worker.headers.get('content-type')).toMatch(/javascript/)
  })

  it("a browser whose push service answers is subscribed, and a push channel's rule reaches it", async () => {
    // Chromium here has no push service; the page's PushManager is given one on loopback instead, with
    // keys made here. Everything from the button to the gateway's encrypted, VAPID-signed push is real.
    const service = await startReceiver([201])
    try {
      const ecdh = createECDH('prime256v1')
      ecdh.generateKeys()
      const sub = {
        endpoint: `${service.url}/push/desk-1`,
        keys: {
          p256dh: ecdh.getPublicKey().toString('base64url'),
          auth: randomBytes(16).toString('base64url'),
        },
      }
      const b = await open()
      await b.context.grantPermissions(['notifications'], { origin: gw.gateway.httpUrl })
      await b.context.addInitScript((json: string) => {
        PushManager.prototype.subscribe = async () =>
          ({ toJSON: () => JSON.parse(json) }) as unknown as PushSubscription
      }, JSON.stringify(sub))
      const ops = (await gw.gateway.tokens.issue('Ops Desk', 'ops')).token
      await signIn(b.page, ops, gw.gateway.httpUrl)
      await b.page.getByTestId('nav-ops').click()
      await b.page.getByTestId('ops-tab-notify').click()
      await b.page.getByTestId('push-subscribe').click()
      const said = b.page.getByTestId('push-outcome')
      await said.waitFor({ timeout: UI_TIMEOUT })
      expect(await said.getAttribute('data-outcome')).toBe('subscribed')
      expect(await said.textContent()).toBe('This browser will be notified.')

      const n = notifyApi(gw.gateway.httpUrl, gw.adminToken)
      const push = await n.channel({ type: 'push', name: 'Browsers' })
      const rule = await n.rule({
        name: 'offline in 42',
        kind: 'offline',
        district: 42,
        offlineMinutes: 0.005,
        channels: [push.id],
      })
      const c = await gw.gateway.registry.create(deviceRow({ id: 'cam-notify-ui-2', district: 42 }))
      await end(await connectUnit(gw.gateway.mqttUrl, c.id, c.secret))
      await expect.poll(() => service.received.length, { timeout: 20_000 }).toBe(1)
      expect(String(service.received[0]?.headers.authorization)).toMatch(/^vapid t=/)
      await expect
        .poll(async () => (await n.notifications(rule.id)).map((x) => x.status), { timeout: UI_TIMEOUT })
        .toEqual(['sent'])
      // Stopping removes the subscription at the gateway: the next unit offline reaches no browser.
      await b.page.getByTestId('push-stop').click()
      await expect
        .poll(() => b.page.getByTestId('push-outcome').getAttribute('data-outcome'), { timeout: UI_TIMEOUT })
        .toBe('stopped')
      expect(await b.page.getByTestId('push-outcome').textContent()).toBe(
        'This browser will no longer be notified.',
      )
      const d = await gw.gateway.registry.create(deviceRow({ id: 'cam-notify-ui-3', district: 42 }))
      await end(await connectUnit(gw.gateway.mqttUrl, d.id, d.secret))
      await expect.poll(async () => (await n.notifications(rule.id)).length, { timeout: UI_TIMEOUT }).toBe(2)
      await new Promise((r) => setTimeout(r, 500))
      expect(service.received).toHaveLength(1)
      expect(b.errors).toEqual([])
    } finally {
      await service.close()
    }
  })

  it('reads in Chinese', async () => {
    const zh = await open({ locale: 'zh-CN' })
    await signIn(zh.page, gw.adminToken, gw.gateway.httpUrl)
    await zh.page.getByTestId('nav-ops').click()
    await zh.page.getByTestId('ops-tab-notify').click()
    await zh.page.getByRole('heading', { name: '通知', exact: true }).waitFor({ timeout: UI_TIMEOUT })
    expect(await zh.page.getByTestId('ops-tab-notify').textContent()).toBe('通知')
    await zh.page.getByRole('heading', { name: '通知规则' }).waitFor({ timeout: UI_TIMEOUT })
    expect(await zh.page.getByTestId('push-subscribe').textContent()).toBe('在本浏览器接收通知')
    expect(await zh.page.getByTestId('channel-table').textContent()).toContain('网络钩子')
    expect(await zh.page.getByTestId('rule-table').textContent()).toContain('设备离线')
    await zh.page
      .locator(`[data-name="Offline in district ${DISTRICT}"]`)
      .getByTestId('rule-record-toggle')
      .click()
    await expect
      .poll(() => zh.page.getByTestId('count-sent').textContent(), { timeout: UI_TIMEOUT })
      .toBe('已发送：1')
    await zh.screenshot('notify-zh')
    expect(zh.errors).toEqual([])
  })

  it('is refused to an owner; ops may have their browser notified but see no channels or rules', async () => {
    const owner = await open()
    const ownerToken = (await gw.gateway.tokens.issue('Mrs Lin', 'owner', 'lin@example.org')).token
    await signIn(owner.page, ownerToken, gw.gateway.httpUrl)
    await owner.page.getByTestId('nav-my').waitFor({ timeout: UI_TIMEOUT })
    expect(await owner.page.getByTestId('nav-ops').count()).toBe(0)
    expect(await owner.page.getByTestId('nav-notify').count()).toBe(0)
    await owner.page.goto(`${gw.gateway.httpUrl}/#/notify`)
    await owner.page.getByTestId('forbidden').waitFor({ timeout: UI_TIMEOUT })
    expect(await owner.page.getByTestId('notify-page').count()).toBe(0)

    const ops = await open()
    const opsToken = (await gw.gateway.tokens.issue('Ops Zhao', 'ops')).token
    await signIn(ops.page, opsToken, gw.gateway.httpUrl)
    await ops.page.getByTestId('nav-ops').click()
    await ops.page.getByTestId('ops-tab-notify').click()
    await ops.page.getByTestId('push-subscribe').waitFor({ timeout: UI_TIMEOUT })
    expect(await ops.page.getByTestId('channel-form').count()).toBe(0)
    expect(await ops.page.getByTestId('rule-table').count()).toBe(0)
    expect(ops.errors).toEqual([])
    expect(owner.errors).toEqual([])
  })
})
