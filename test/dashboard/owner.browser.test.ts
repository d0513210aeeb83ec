import fs from 'node:fs'
import path from 'node:path'
import type { CaseDetail, ConsentRequest, DeviceView, PullView } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, basic } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

/*
 * The homeowner's pages in a real Chromium against a real gateway, on a phone
 * (390×844): an owner token sees its own units only, a request for its unit's
 * footage with everything needed to decide (case, window, unit, who asked,
 * why), approves it with a note, and the request stays listed as decided with
 * who and when. The same pages in Chinese. The owner's token opens no staff
 * route, and the pages never ask one.
 */

const PHONE = { width: 390, height: 844 }
const UI_TIMEOUT = 15_000
const CASE_NUMBER = 'PD-2026-1204'
const REASON = 'Bicycle stolen from the courtyard on the night of 3 December'
const NOTE = 'Only the front door camera faces the courtyard'

/** Nothing makes the page scroll sideways, and no element sticks out of the viewport. */
async function overflow(page: Page): Promise<{ scroll: number; wide: string[] }> {
  return page.evaluate(() => {
    const el = document.scrollingElement ?? document.documentElement
    const vw = window.innerWidth
    const wide: string[] = []
    for (const node of document.querySelectorAll<HTMLElement>('body *')) {
      const r = node.getBoundingClientRect()
      if (r.width === 0 && r.height === 0) continue
      if (r.right > vw + 0.5 || r.left < -0.5)
        wide.push(
          `${node.tagName.toLowerCase()}.${node.className} ${Math.round(r.left)}..${Math.round(r.right)}`,
        )
    }
    return { scroll: el.scrollWidth - vw, wide }
  })
}

async function expectFits(page: Page): Promise<void> {
  const o = await overflow(page)
  expect(o.wide).toEqual([])
  expect(o.scroll).toBeLessThanOrEqual(0)
}

describe('the homeowner on a phone', () => {
  let gw: TestGateway
  let tb: TestBrowser | null = null
  let owner: string
  let pullId: string
  let eventId: string
  let client: MqttClient | null = null
  const data = tempDir('doorstep-owner-')
  const requested: string[] = []
  const MINE = 'cam-wu-front'
  const THEIRS = 'cam-li-gate'

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway()
    const tokens = gw.gateway.tokens
    owner = (await tokens.issue('Mrs Wu', 'owner', 'wu@example.org')).token
    const investigator = (await tokens.issue('Det. Insp. Chen', 'investigator')).token
    const reg = gw.gateway.registry
    const unit = await reg.create(
      deviceRow({ id: MINE, address: '8 Willow Lane', ownerContact: 'wu@example.org', releasePolicy: 'ask' }),
    )
    await reg.create(
      deviceRow({
        id: THEIRS,
        address: '10 Willow Lane',
        ownerContact: 'li@example.org',
        releasePolicy: 'ask',
      }),
    )
    const now = Date.now()
    const created = await api<CaseDetail>(gw.gateway.httpUrl, 'POST', '/api/v1/cases', investigator, {
      number: CASE_NUMBER,
      reason: REASON,
      from: now - 6 * 3_600_000,
      to: now - 3_600_000,
      area: { kind: 'devices', ids: [MINE, THEIRS] },
    })
    expect(created.status).toBe(201)
    const pulls = await api<{ pulls: PullView[] }>(
      gw.gateway.httpUrl,
      'POST',
      `/api/v1/cases/${created.body.case.id}/pulls`,
      investigator,
      {},
    )
    expect(pulls.status).toBe(201)
    const mine = pulls.body.pulls.find((p) => p.deviceId === MINE)
    expect(mine?.state).toBe('awaiting-consent')
    pullId = mine?.id ?? ''

    // The owner's unit reports its health and records a person at the door, with a clip.
    client = await connectUnit(gw.gateway.mqttUrl, unit.id, unit.secret)
    await publish(client, `cam/${unit.id}/heartbeat`, heartbeat({}), 0)
    const clip = makeClip(data.dir, 'door', { seconds: 3 })
    eventId = await announce(client, unit.id, clipInfo(clip))
    const put = await putClip(gw.gateway.httpUrl, eventId, basic(unit.id, unit.secret), clip.buf)
    expect(put.ok).toBe(true)
    await gw.gateway.clips.idle()
    await until('the heartbeat is on the unit', async () => {
      const r = await api<{ devices: DeviceView[] }>(gw.gateway.httpUrl, 'GET', '/api/v1/my/devices', owner)
      return r.body.devices[0]?.lastHeartbeat ? true : undefined
    })
    await until('the clip is ready', () => gw.gateway.events.index.get(eventId)?.clip.state === 'ready')
  })

  afterAll(async () => {
    if (client) await end(client)
    await tb?.close()
    await gw?.stop()
    data.cleanup()
  })

  it("the owner's token opens no staff route", async () => {
    const staff = await api(gw.gateway.httpUrl, 'GET', '/api/v1/devices', owner)
    expect(staff.status).toBe(403)
    const mine = await api<{ devices: DeviceView[] }>(gw.gateway.httpUrl, 'GET', '/api/v1/my/devices', owner)
    expect(mine.body.devices.map((d) => d.id)).toEqual([MINE])
  })

  it('lands on the owner home with their unit only and the waiting request counted', async () => {
    tb = await launchBrowser(PHONE)
    tb.page.on('request', (r) => requested.push(new URL(r.url()).pathname))
    await signIn(tb.page, owner, gw.gateway.httpUrl)
    const home = tb.page.getByTestId('owner-home')
    await home.waitFor({ timeout: UI_TIMEOUT })
    expect(await home.locator('h1').textContent()).toBe('My units')
    await tb.page.getByTestId(`my-unit-${MINE}`).waitFor({ timeout: UI_TIMEOUT })
    expect(await tb.page.getByTestId(`my-unit-${MINE}`).textContent()).toContain('8 Willow Lane')
    expect(await tb.page.getByTestId(`my-unit-${THEIRS}`).count()).toBe(0)
    expect(await tb.page.getByText('10 Willow Lane').count()).toBe(0)
    const pending = tb.page.getByTestId('pending-count').locator('p')
    await expect.poll(() => pending.getAttribute('data-count'), { timeout: UI_TIMEOUT }).toBe('1')
    expect(await pending.textContent()).toBe('1 request waits for your answer')
    expect(await tb.page.getByTestId('forbidden').count()).toBe(0)
    await expectFits(tb.page)
    await tb.screenshot('owner-phone-home')
  })

  it("opens the unit's page with its health, and plays an event's clip", async () => {
    const page = (tb as TestBrowser).page
    await page.getByTestId(`my-unit-${MINE}`).locator('a').click()
    await page.getByTestId('owner-device').waitFor({ timeout: UI_TIMEOUT })
    expect(page.url()).toContain(`#/my/device/${MINE}`)
    expect(await page.getByTestId('owner-device').locator('h1').textContent()).toBe('8 Willow Lane')
    await page.getByTestId('health-storage').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('health-recording').locator('dd').textContent()).toMatch(/^(Yes|No)$/)
    const ev = page.getByTestId(`my-event-${eventId}`)
    await ev.waitFor({ timeout: UI_TIMEOUT })
    expect(await ev.textContent()).toContain('Person')
    await ev.getByTestId(`play-${eventId}`).click()
    const video = ev.getByTestId(`clip-${eventId}`)
    await video.waitFor({ timeout: UI_TIMEOUT })
    // Metadata means the browser fetched the clip through the owner's route, token in the URL.
    await expect
      .poll(() => video.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: UI_TIMEOUT })
      .toBeGreaterThanOrEqual(1)
    const duration = await video.evaluate((v: HTMLVideoElement) => v.duration)
    expect(duration).toBeGreaterThan(2.5)
    expect(requested).toContain(`/api/v1/my/clips/${eventId}`)
    await expectFits(page)
    await (tb as TestBrowser).screenshot('owner-phone-device')
  })

  it('shows the waiting request with case, window, unit, who asked and why', async () => {
    const page = (tb as TestBrowser).page
    await page.getByTestId('menu-button').click()
    await page.getByTestId('nav-consents').click()
    const card = page.getByTestId(`consent-${pullId}`)
    await card.waitFor({ timeout: UI_TIMEOUT })
    expect(await card.getAttribute('data-state')).toBe('waiting')
    expect(await page.getByTestId('consents-page').locator('h1').textContent()).toBe('Requests for footage')
    expect(await card.getByTestId('consent-case').textContent()).toBe(`Case ${CASE_NUMBER}`)
    const window = (await card.getByTestId('consent-window').locator('dd').textContent()) ?? ''
    expect(window).toContain(' to ')
    expect(window).toContain(String(new Date().getFullYear()))
    expect(await card.getByTestId('consent-unit').locator('dd').textContent()).toBe(`8 Willow Lane (${MINE})`)
    expect(await card.getByTestId('consent-asked').locator('dd').textContent()).toContain('Det. Insp. Chen')
    expect(await card.getByTestId('consent-reason').locator('dd').textContent()).toBe(REASON)
    expect(await page.getByTestId('consents-decided').count()).toBe(0)
    await expectFits(page)
    await (tb as TestBrowser).screenshot('owner-phone-consents')
  })

  it('approves it with a note; it stays listed as decided with who and when', async () => {
    const page = (tb as TestBrowser).page
    const card = page.getByTestId(`consent-${pullId}`)
    await card.getByTestId('consent-note-input').fill(NOTE)
    await card.getByTestId('consent-approve').click()
    await expect.poll(() => card.getAttribute('data-state'), { timeout: UI_TIMEOUT }).toBe('approved')
    expect(await page.getByTestId('consents-waiting').count()).toBe(0)
    expect(await page.getByText('Nothing waits for your answer.').count()).toBe(1)
    expect(await page.getByTestId('consents-decided').getByTestId(`consent-${pullId}`).count()).toBe(1)
    expect(await card.getByTestId('consent-outcome').textContent()).toBe('Approved')
    const decided = (await card.getByTestId('consent-decided').locator('dd').textContent()) ?? ''
    expect(decided).toContain('Mrs Wu')
    expect(decided).toContain(String(new Date().getFullYear()))
    expect(await card.getByTestId('consent-note').locator('dd').textContent()).toBe(NOTE)
    expect(await card.getByTestId('consent-approve').count()).toBe(0)
    await expectFits(page)
    await (tb as TestBrowser).screenshot('owner-phone-consent-decided')

    const after = await api<{ requests: ConsentRequest[] }>(
      gw.gateway.httpUrl,
      'GET',
      '/api/v1/my/consents',
      owner,
    )
    const r = after.body.requests.find((x) => x.pullId === pullId)
    expect(r).toMatchObject({ state: 'approved', note: NOTE, decidedBy: expect.stringContaining('Mrs Wu') })
    expect(r?.decidedAt).toBeGreaterThan(Date.now() - 60_000)
  })

  it('never asked a staff route and met no page error', () => {
    const apiCalls = requested.filter((p) => p.startsWith('/api/v1/'))
    expect(apiCalls).toContain('/api/v1/my/devices')
    expect(apiCalls).toContain('/api/v1/my/consents')
    // The owner's own routes, who the token is, and the public evidence keys (the sign-in page's).
    const allowed = (p: string) =>
      p.startsWith('/api/v1/my/') || p === '/api/v1/me' || p === '/api/v1/evidence/keys'
    expect(apiCalls.filter((p) => !allowed(p))).toEqual([])
    expect(apiCalls.filter((p) => p.startsWith('/api/v1/devices'))).toEqual([])
    expect((tb as TestBrowser).errors).toEqual([])
  })

  it('lays the requests out on a desktop too', async () => {
    const page = (tb as TestBrowser).page
    await page.setViewportSize({ width: 1440, height: 900 })
    await page.getByTestId('nav-consents').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('nav-consents').getAttribute('aria-current')).toBe('page')
    expect(await page.getByTestId('nav-my').isVisible()).toBe(true)
    await page.getByTestId(`consent-${pullId}`).waitFor({ timeout: UI_TIMEOUT })
    await expectFits(page)
    await (tb as TestBrowser).screenshot('owner-desktop-consents')
    await page.getByTestId('nav-my').click()
    await page.getByTestId(`my-unit-${MINE}`).waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('pending-count').locator('p').getAttribute('data-count')).toBe('0')
    await expectFits(page)
    await (tb as TestBrowser).screenshot('owner-desktop-home')
  })

  it('says the same in Chinese', async () => {
    await tb?.close()
    tb = await launchBrowser({ ...PHONE, locale: 'zh-CN' })
    await signIn(tb.page, owner, gw.gateway.httpUrl)
    const home = tb.page.getByTestId('owner-home')
    await home.waitFor({ timeout: UI_TIMEOUT })
    expect(await home.locator('h1').textContent()).toBe('我的设备')
    await tb.page.getByTestId(`my-unit-${MINE}`).waitFor({ timeout: UI_TIMEOUT })
    await expectFits(tb.page)
    await tb.screenshot('owner-phone-home-zh')
    await tb.page.goto(`${gw.gateway.httpUrl}#/consents`)
    const card = tb.page.getByTestId(`consent-${pullId}`)
    await card.waitFor({ timeout: UI_TIMEOUT })
    expect(await tb.page.getByTestId('consents-page').locator('h1').textContent()).toBe('录像调取申请')
    expect(await card.getByTestId('consent-case').textContent()).toBe(`案件 ${CASE_NUMBER}`)
    expect(await card.getByTestId('consent-outcome').textContent()).toBe('已同意')
    await expectFits(tb.page)
    await tb.screenshot('owner-phone-consents-zh')
    expect(tb.errors).toEqual([])
  })
})
