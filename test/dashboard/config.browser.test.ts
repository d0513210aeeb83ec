import fs from 'node:fs'
import path from 'node:path'
import type { UnitConfigView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_FAULTS } from '../../device-sim/src/faults.js'
import { planFleet, toDeviceCreate } from '../../device-sim/src/fleet-plan.js'
import { Scheduler } from '../../device-sim/src/scheduler.js'
import { newStats } from '../../device-sim/src/stats.js'
import { SimUnit } from '../../device-sim/src/unit.js'
import { createLimiter } from '../../device-sim/src/uploader.js'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { until } from '../helpers/wait.js'

/*
 * The configuration page against a real gateway and simulated units over real MQTT: a district's
 * change sent from the form reaches its units, which apply it, except one that refuses every
 * configuration and is flagged with its own words. A refused field is named beside it; the page reads
 * in Chinese; an investigator may not open it.
 */

const UI_TIMEOUT = 15_000
const DISTRICT = 33

describe('the configuration page', { timeout: 120_000 }, () => {
  let gw: TestGateway
  const scheduler = new Scheduler()
  const units: SimUnit[] = []
  const browsers: TestBrowser[] = []
  let admin: TestBrowser

  const view = async (id: string) =>
    (await api<UnitConfigView>(gw.gateway.httpUrl, 'GET', `/api/v1/config/devices/${id}`, gw.adminToken)).body
  const row = (b: TestBrowser, id: string) => b.page.getByTestId(`config-unit-${id}`)
  const open = async (opts: { locale?: 'en' | 'zh-CN' } = {}) => {
    const b = await launchBrowser(opts)
    browsers.push(b)
    return b
  }

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway()
    scheduler.start()
    // Three units in the district (the third refuses every configuration) and one outside it.
    const plan = planFleet({ count: 4, idPrefix: 'cfgui-' }).map((p, i) => ({
      ...p,
      district: i < 3 ? DISTRICT : DISTRICT + 1,
    }))
    for (const [i, p] of plan.entries()) {
      const { secret } = await gw.gateway.registry.create(toDeviceCreate(p))
      const unit = new SimUnit(p, secret, {
        scheduler,
        mqttUrls: [gw.gateway.mqttUrl],
        stats: newStats(1),
        clips: [],
        uploader: null,
        runUpload: createLimiter(1),
        random: Math.random,
        config: {
          heartbeatMs: 1_000,
          heartbeatJitter: 0.1,
          eventRate: 0,
          backoff: { baseMs: 50, capMs: 200 },
          connectTimeoutMs: 5_000,
          keepaliveS: 30,
          faults: { ...DEFAULT_FAULTS, configRefuseShare: i === 2 ? 1 : 0 },
          uploadOnEnd: false,
        },
      })
      units.push(unit)
      unit.start()
    }
    await until('online', () => units.every((u) => u.state === 'online'))
  })

  afterAll(async () => {
    for (const b of browsers) await b.close()
    await Promise.all(units.map((u) => u.stop(500)))
    scheduler.stop()
    await gw?.stop()
  })

  it('a district change from the form reaches the units: in step, and a refusal with its reason', async () => {
    admin = await open()
    const page = admin.page
    await signIn(page, gw.adminToken, gw.gateway.httpUrl)
    await page.getByTestId('nav-ops').click()
    await page.getByTestId('config-page').waitFor({ timeout: UI_TIMEOUT })
    // Never configured: every unit is listed as such before the change.
    await expect
      .poll(() => row(admin, units[0]!.id).getAttribute('data-status'), { timeout: UI_TIMEOUT })
      .toBe('unset')

    await page.getByLabel('Change', { exact: true }).selectOption('district')
    await page.getByLabel('District', { exact: true }).fill(String(DISTRICT))
    await page.getByLabel('Heartbeat interval (s)').fill('20')
    await page.getByLabel('Night vision').selectOption('on')
    await page.getByTestId('config-submit').click()
    await expect
      .poll(() => page.getByTestId('config-sent').textContent(), { timeout: UI_TIMEOUT })
      .toBe('Sent to 3 units')

    // The page follows the units' answers by itself: no reload, no click.
    const [a, b, refusing, outside] = units as [SimUnit, SimUnit, SimUnit, SimUnit]
    for (const u of [a, b])
      await expect
        .poll(() => row(admin, u.id).getAttribute('data-status'), { timeout: UI_TIMEOUT })
        .toBe('applied')
    await expect
      .poll(() => row(admin, refusing.id).getAttribute('data-status'), { timeout: UI_TIMEOUT })
      .toBe('refused')
    expect(await row(admin, refusing.id).getByTestId('config-reason').textContent()).toBe(
      'The unit said: remote configuration is locked on this unit',
    )
    expect(await row(admin, a.id).getByTestId('config-status').textContent()).toBe('In step')
    expect(await row(admin, a.id).getByTestId('config-desired').textContent()).toBe('v1')
    expect(await row(admin, a.id).getByTestId('config-running').textContent()).toBe('v1')
    expect(await row(admin, outside.id).getAttribute('data-status')).toBe('unset')
    // What the page says is what the units run.
    expect((await view(a.id)).reported?.running).toMatchObject({ heartbeatIntervalS: 20, nightMode: 'on' })
    expect(a.remoteConfig.running.heartbeatIntervalS).toBe(20)
    expect((await view(refusing.id)).reported?.running.heartbeatIntervalS).toBe(30)
    await admin.screenshot('config-district-en')

    // The filters are the gateway's: refused units of the district only.
    await page.getByTestId('config-filter-district').selectOption(String(DISTRICT))
    await page.getByTestId('config-filter-status').selectOption('refused')
    await expect
      .poll(() => page.locator('[data-testid^=config-unit-]').count(), { timeout: UI_TIMEOUT })
      .toBe(1)
    expect(await row(admin, refusing.id).count()).toBe(1)
    expect(await page.getByTestId(`config-district-${DISTRICT}`).textContent()).toContain('3')
  })

  it('names a refused field beside it, and sends nothing', async () => {
    const page = admin.page
    const before = (await view(units[0]!.id)).desired?.version
    await page.getByLabel('Heartbeat interval (s)').fill('5')
    await page.getByLabel('Night vision').selectOption('')
    await page.getByTestId('config-submit').click()
    const err = page.getByTestId('error-config-heartbeat')
    await err.waitFor({ timeout: UI_TIMEOUT })
    expect(await err.textContent()).toMatch(/10/)
    expect((await view(units[0]!.id)).desired?.version).toBe(before)
    // A change that sets nothing is refused as a whole.
    await page.getByRole('button', { name: 'Clear the fields' }).click()
    await page.getByTestId('config-submit').click()
    await expect
      .poll(() => page.getByTestId('error-config-form').textContent(), { timeout: UI_TIMEOUT })
      .toContain('the change sets no field')
    // Chromium logs each refused request; those two are the only errors the page met.
    expect(admin.errors).toHaveLength(2)
    expect(admin.errors.every((e) => e.includes('400 (Bad Request)'))).toBe(true)
    admin.errors.length = 0
  })

  it("replaces one unit's zones and recording windows; a bad zone is named by its row", async () => {
    const page = admin.page
    const a = units[0]!
    await page.getByLabel('Change', { exact: true }).selectOption('device')
    await page.getByLabel('Unit ID').fill(a.id)
    await page.getByLabel('Replace the zones').check()
    await page.getByTestId('config-zones-add').click()
    await page.getByLabel('Width (0–1)').fill('0')
    await page.getByTestId('config-submit').click()
    await expect
      .poll(() => page.getByTestId('error-config-zones').textContent(), { timeout: UI_TIMEOUT })
      .toMatch(/^#1: /)
    await page.getByLabel('Width (0–1)').fill('0.5')
    await page.getByLabel('Replace the windows').check()
    await page.getByTestId('config-windows-add').click()
    await page.getByTestId('config-submit').click()
    await expect
      .poll(() => page.getByTestId('config-sent').textContent(), { timeout: UI_TIMEOUT })
      .toBe('Sent to 1 unit')
    await page.getByTestId('config-filter-status').selectOption('')
    await expect
      .poll(() => row(admin, a.id).getByTestId('config-running').textContent(), { timeout: UI_TIMEOUT })
      .toBe('v2')
    expect(await row(admin, a.id).getAttribute('data-status')).toBe('applied')
    const running = (await view(a.id)).reported?.running
    expect(running?.motion.zones).toEqual([{ x: 0, y: 0, w: 0.5, h: 1 }])
    expect(running?.recording.windows).toEqual([{ from: '22:00', to: '06:00', mode: 'always' }])
    // Untouched by this change: what the district change set.
    expect(running?.heartbeatIntervalS).toBe(20)
    await admin.screenshot('config-lists-en')
    expect(admin.errors).toHaveLength(1)
    expect(admin.errors[0]).toContain('400 (Bad Request)')
    admin.errors.length = 0
  })

  it("the unit's page shows its versions and links to the form for it", async () => {
    const page = admin.page
    const u = units[0]!
    await page.goto(`${gw.gateway.httpUrl}/#/device/${u.id}`)
    const line = page.getByTestId('unit-config')
    await line.waitFor({ timeout: UI_TIMEOUT })
    expect(await line.textContent()).toContain('wanted v2, running v2')
    await line.getByTestId('unit-config-link').click()
    await page.getByTestId('config-form').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByLabel('Unit ID').inputValue()).toBe(u.id)
    expect(admin.errors).toEqual([])
  })

  it('reads in Chinese', async () => {
    const zh = await open({ locale: 'zh-CN' })
    await signIn(zh.page, gw.adminToken, gw.gateway.httpUrl)
    await zh.page.getByTestId('nav-ops').click()
    await zh.page.getByRole('heading', { name: '设备配置' }).waitFor({ timeout: UI_TIMEOUT })
    expect(await zh.page.getByTestId('nav-ops').textContent()).toBe('运维')
    expect(await zh.page.getByTestId('ops-tab-config').textContent()).toBe('远程配置')
    await expect
      .poll(() => row(zh, units[0]!.id).getByTestId('config-status').textContent(), { timeout: UI_TIMEOUT })
      .toBe('已同步')
    expect(await row(zh, units[2]!.id).getByTestId('config-status').textContent()).toBe('已拒绝')
    expect(await zh.page.getByLabel('心跳间隔（秒）').count()).toBe(1)
    expect(await zh.page.getByTestId('config-submit').textContent()).toBe('下发到设备')
    await zh.screenshot('config-district-zh')
    expect(zh.errors).toEqual([])
  })

  it('is refused to an investigator, who has no link to it', async () => {
    const inv = await open()
    const token = (await gw.gateway.tokens.issue('Det. Insp. Wu', 'investigator')).token
    await signIn(inv.page, token, gw.gateway.httpUrl)
    await inv.page.getByTestId('nav-cases').waitFor({ timeout: UI_TIMEOUT })
    expect(await inv.page.getByTestId('nav-ops').count()).toBe(0)
    await inv.page.goto(`${gw.gateway.httpUrl}/#/config`)
    await inv.page.getByTestId('forbidden').waitFor({ timeout: UI_TIMEOUT })
    expect(await inv.page.getByTestId('config-page').count()).toBe(0)
    // Nor does the unit's page offer it.
    await inv.page.goto(`${gw.gateway.httpUrl}/#/device/${units[0]!.id}`)
    await inv.page.getByTestId('device-page').waitFor({ timeout: UI_TIMEOUT })
    expect(await inv.page.getByTestId('unit-config').count()).toBe(0)
    expect(inv.errors).toEqual([])
  })
})
