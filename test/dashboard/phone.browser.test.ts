import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { DeviceCredentials } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * The ops views on a phone (390×844, an iPhone 12-14 in CSS pixels) in a real
 * Chromium against a real gateway: a compact header whose controls all fit and
 * take a tap, a menu that opens, closes and navigates by keyboard, the alert
 * feed as a page of its own, and no sideways scrolling. Then the same session
 * on a desktop-sized window keeps the wide layout. Screenshots land in
 * test-results/ (the ones in dashboard/docs/ were taken from here).
 */

const PHONE = { width: 390, height: 844 }
const DESKTOP = { width: 1440, height: 900 }
const DISTRICT = 12
const UI_TIMEOUT = 15_000

/** The element's box lies wholly inside the viewport, and a tap would land on it (nothing covers it). */
async function expectReachable(page: Page, loc: Locator): Promise<void> {
  const box = await loc.boundingBox()
  const vp = page.viewportSize()
  if (!box || !vp) throw new Error('no layout box or viewport')
  expect(box.x).toBeGreaterThanOrEqual(0)
  expect(box.y).toBeGreaterThanOrEqual(0)
  expect(box.x + box.width).toBeLessThanOrEqual(vp.width)
  expect(box.y + box.height).toBeLessThanOrEqual(vp.height)
  // A trial click runs Playwright's actionability checks (visible, stable, enabled, receives the
  // pointer at its centre) without clicking.
  await loc.click({ trial: true, timeout: 5000 })
}

/** Nothing makes the page scroll sideways. */
async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    const el = document.scrollingElement ?? document.documentElement
    return el.scrollWidth - window.innerWidth
  })
}

describe('dashboard on a phone', () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  const data = tempDir('doorstep-phone-')
  let gw: TestGateway
  let tb: TestBrowser
  let unit: DeviceCredentials
  let client: MqttClient | null = null

  const page = () => tb.page
  const testId = (id: string) => page().getByTestId(id)
  const menuButton = () => testId('menu-button')

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({ DOORSTEP_ADMIN_TOKEN: token, DOORSTEP_DATA_DIR: data.dir })
    unit = await gw.gateway.registry.create(deviceRow({ district: DISTRICT, address: '9 Alder Row' }))
    tb = await launchBrowser(PHONE)
  })

  afterAll(async () => {
    if (client) await end(client)
    await tb?.close()
    await gw?.stop()
    data.cleanup()
  })

  it('fits the sign-in form on the screen', async () => {
    await page().goto(gw.gateway.httpUrl)
    await expectReachable(page(), testId('signin-token'))
    await expectReachable(page(), testId('signin-submit'))
    expect(await horizontalOverflow(page())).toBeLessThanOrEqual(0)
  })

  it('shows a compact header whose every control is on screen and takes a tap', async () => {
    await signIn(page(), token)
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })
    client = await connectUnit(gw.gateway.mqttUrl, unit.id, unit.secret)
    await publish(client, `cam/${unit.id}/heartbeat`, heartbeat({}), 0)
    await page()
      .locator(`[data-testid=district-${DISTRICT}][data-online="1"]`)
      .waitFor({ timeout: UI_TIMEOUT })

    const header = page().locator('header.topbar')
    await expectReachable(page(), header.locator('.brand'))
    await expectReachable(page(), testId('conn-state'))
    expect(await testId('conn-state').textContent()).toContain('Live')
    await expectReachable(page(), menuButton())
    // Every control the header shows, not only the ones named above.
    const controls = header.locator('a:visible, button:visible, [role=status]:visible')
    expect(await controls.count()).toBeGreaterThanOrEqual(3)
    for (const c of await controls.all()) await expectReachable(page(), c)

    // The wide header's links and the feed beside the page are gone.
    expect(await menuButton().getAttribute('aria-expanded')).toBe('false')
    expect(await testId('main-menu').isHidden()).toBe(true)
    expect(await page().locator('aside.side').count()).toBe(0)
    expect(await horizontalOverflow(page())).toBeLessThanOrEqual(0)
    // The fleet grid has the whole screen under the header.
    const main = await page().locator('main#main').boundingBox()
    expect(main?.height ?? 0).toBeGreaterThan(PHONE.height * 0.8)
    await page().mouse.move(PHONE.width / 2, PHONE.height - 1)
    await tb.screenshot('phone-01-fleet')
  })

  it('opens the menu by keyboard, closes it on Escape, and navigates from it', async () => {
    await menuButton().focus()
    await page().keyboard.press('Enter')
    expect(await menuButton().getAttribute('aria-expanded')).toBe('true')
    await testId('main-menu').waitFor({ state: 'visible' })
    expect(await menuButton().getAttribute('aria-controls')).toBe('main-menu')
    for (const id of ['nav-fleet', 'nav-alerts', 'nav-offline', 'nav-events', 'sign-out']) {
      await expectReachable(page(), testId(id))
    }
    expect(await testId('nav-fleet').getAttribute('aria-current')).toBe('page')
    await tb.screenshot('phone-02-menu')

    // Tab leads from the button into the menu.
    await page().keyboard.press('Tab')
    expect(await page().evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('nav-fleet')
    await page().keyboard.press('Escape')
    expect(await menuButton().getAttribute('aria-expanded')).toBe('false')
    expect(await testId('main-menu').isHidden()).toBe(true)
    expect(await page().evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(
      'menu-button',
    )

    // Enter on a link navigates and the menu closes behind it.
    await page().keyboard.press('Enter')
    await page().keyboard.press('Tab')
    await page().keyboard.press('Tab')
    expect(await page().evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(
      'nav-alerts',
    )
    await page().keyboard.press('Enter')
    await expect.poll(() => page().url()).toContain('#/alerts')
    await expect.poll(() => menuButton().getAttribute('aria-expanded')).toBe('false')
    expect(await testId('main-menu').isHidden()).toBe(true)
    await testId('alert-feed').waitFor()
    // Navigation lands focus on the new page's heading.
    await expect.poll(() => page().evaluate(() => document.activeElement?.textContent)).toBe('Live alerts')

    // A tap outside closes it too.
    await menuButton().click()
    await testId('main-menu').waitFor({ state: 'visible' })
    await page().mouse.click(PHONE.width / 2, PHONE.height - 40)
    await expect.poll(() => menuButton().getAttribute('aria-expanded')).toBe('false')
  })

  it('shows a live alert in the feed page, on screen and without sideways scrolling', async () => {
    if (!client) throw new Error('the unit is not connected')
    const ev = event({ kind: 'person', score: 0.88 })
    await publish(client, `cam/${unit.id}/event`, ev, 1)
    const alert = page().locator(`[data-testid=alert][data-event-id="${ev.eventId}"]`)
    await alert.waitFor({ timeout: UI_TIMEOUT })
    expect(await alert.textContent()).toContain('Person')
    await expectReachable(page(), alert.locator('a'))
    await expectReachable(page(), testId('feed-district'))
    await expectReachable(page(), testId('feed-kind'))
    // The feed fills the screen below the header instead of half of it.
    const feed = await testId('alert-feed').boundingBox()
    expect(feed?.height ?? 0).toBeGreaterThan(PHONE.height * 0.75)
    expect(await horizontalOverflow(page())).toBeLessThanOrEqual(0)
    await page().mouse.move(PHONE.width / 2, PHONE.height - 1)
    await tb.screenshot('phone-03-alerts')

    // The alert opens its event; the header still fits there.
    await alert.locator('a').click()
    await testId('event-page').waitFor()
    await expectReachable(page(), menuButton())
    expect(await horizontalOverflow(page())).toBeLessThanOrEqual(0)
  })

  it('lays out the other ops views without sideways scrolling', async () => {
    for (const [name, hash, ready] of [
      ['district', `#/district/${DISTRICT}`, `[data-testid=device-row][data-device-id="${unit.id}"]`],
      ['all-units', '#/devices', `[data-testid=device-row][data-device-id="${unit.id}"]`],
      ['offline', '#/offline', 'main h1'],
      ['events', '#/events', '[data-testid=event-card]'],
    ] as const) {
      await page().goto(`${gw.gateway.httpUrl}/${hash}`)
      // Visible means laid out with a size: a unit column squeezed to nothing would fail here.
      await page().locator(ready).first().waitFor({ timeout: UI_TIMEOUT })
      expect({ hash, overflow: await horizontalOverflow(page()) }).toEqual({ hash, overflow: 0 })
      await expectReachable(page(), menuButton())
      await tb.screenshot(`phone-04-${name}`)
    }
  })

  it('keeps the wide layout on a desktop-sized window', async () => {
    await page().setViewportSize(DESKTOP)
    await page().goto(`${gw.gateway.httpUrl}/#/`)
    await page().locator(`[data-testid=district-${DISTRICT}]`).waitFor({ timeout: UI_TIMEOUT })
    // The links and "Sign out" sit in the bar; no menu button, no feed page link.
    await expect.poll(() => menuButton().count()).toBe(0)
    for (const id of ['nav-fleet', 'nav-offline', 'nav-events', 'sign-out', 'conn-state']) {
      await expectReachable(page(), testId(id))
    }
    expect(await testId('nav-alerts').count()).toBe(0)
    // The feed stands beside the page, full height, as before.
    const main = await page().locator('main#main').boundingBox()
    const side = await page().locator('aside.side').boundingBox()
    if (!main || !side) throw new Error('main or the feed is not laid out')
    expect(side.x).toBeGreaterThanOrEqual(main.x + main.width - 1)
    expect(side.width).toBeGreaterThan(300)
    expect(side.height).toBeGreaterThan(DESKTOP.height * 0.8)
    await page().locator('aside.side [data-testid=alert]').first().waitFor({ timeout: UI_TIMEOUT })
    expect(await horizontalOverflow(page())).toBeLessThanOrEqual(0)
    await tb.screenshot('phone-05-desktop')

    // A link to the feed page, opened on a wide screen, shows the fleet with the feed beside it.
    await page().goto(`${gw.gateway.httpUrl}/#/alerts`)
    await page().locator(`[data-testid=district-${DISTRICT}]`).waitFor({ timeout: UI_TIMEOUT })
    expect(await testId('alert-feed').count()).toBe(1)
    expect(await page().locator('aside.side [data-testid=alert-feed]').count()).toBe(1)
  })

  it('keeps every header control on screen while reconnecting, "Retry now" included', async () => {
    await page().setViewportSize(PHONE)
    await page().goto(`${gw.gateway.httpUrl}/#/`)
    await page().locator(`[data-testid=district-${DISTRICT}]`).waitFor({ timeout: UI_TIMEOUT })
    const port = new URL(gw.gateway.httpUrl).port
    if (client) await end(client)
    client = null
    await gw.stop({ keepData: true })
    await page().locator('[data-testid=conn-state][data-state=waiting]').waitFor({ timeout: UI_TIMEOUT })
    expect(await testId('conn-state').textContent()).toMatch(/Reconnecting in \d+ s/)
    const controls = page()
      .locator('header.topbar')
      .locator('a:visible, button:visible, [role=status]:visible')
    for (const c of await controls.all()) await expectReachable(page(), c)
    await expectReachable(page(), testId('reconnect'))
    await expectReachable(page(), menuButton())
    // The pill stays one line, and the controls keep their accessible names.
    const pill = await testId('conn-state').boundingBox()
    expect(pill?.height ?? 99).toBeLessThan(30)
    expect(await page().getByRole('button', { name: 'Menu' }).count()).toBe(1)
    expect(await page().getByRole('link', { name: 'Doorstep' }).count()).toBe(1)
    expect(await horizontalOverflow(page())).toBeLessThanOrEqual(0)
    await page().mouse.move(PHONE.width / 2, PHONE.height - 1)
    await tb.screenshot('phone-06-reconnecting')

    gw = await startTestGateway({
      DOORSTEP_ADMIN_TOKEN: token,
      DOORSTEP_DATA_DIR: data.dir,
      DOORSTEP_HTTP_PORT: port,
    })
    // The page may have reconnected by itself while the gateway came back, and "Retry now" exists only
    // while it waits: pressed if it is still there (its reach on screen was checked above).
    await page().evaluate(() =>
      (document.querySelector('[data-testid=reconnect]') as HTMLButtonElement | null)?.click(),
    )
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: 40_000 })
  }, 90_000)

  it('signs out from the menu on a phone', async () => {
    await menuButton().click()
    await testId('sign-out').click()
    await testId('signin-form').waitFor()
    expect(await page().evaluate(() => sessionStorage.length)).toBe(0)
  })

  it('ran without page errors', () => {
    // The socket's refused reconnects while the gateway was down are the browser's own report.
    const refused = /WebSocket connection to .* failed|net::ERR_CONNECTION_REFUSED/
    expect(tb.errors.filter((e) => !refused.test(e))).toEqual([])
  })
})
