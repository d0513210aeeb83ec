import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { CaseView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { TestUnit } from '../cases/helpers.js'
import { type ClipFile, makeClip } from '../clips/helpers.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { zoomToUnit } from '../helpers/map.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * The investigators' room in a real Chromium against a real gateway and two real units: an
 * investigator opens a case from the form, the area a circle around the shop's unit picked on the map
 * (the preview counts the units before anything is opened),
 * requests the pulls, watches one unit's upload stand halfway and then finish without reloading,
 * downloads the evidence export and checks it with the verify command and fingerprint the page shows.
 * The same case page in Chinese.
 */

const UI_TIMEOUT = 15_000
const CASE_NUMBER = 'PD-2026-1205'
const REASON = 'Shop window broken at 3 Market St on the night of 4 December'
const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

describe('the investigator opens a case, pulls footage and exports it', () => {
  let gw: TestGateway
  let tb: TestBrowser | null = null
  let zh: TestBrowser | null = null
  let investigator: string
  let caseId = ''
  let clip: ClipFile
  const units: TestUnit[] = []
  const data = tempDir('doorstep-cases-ui-')
  const HELD = 'market-3-door'
  const OTHER = 'market-5-shop'

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    clip = makeClip(data.dir, 'recording', { seconds: 4 })
    gw = await startTestGateway()
    investigator = (await gw.gateway.tokens.issue('Det. Insp. Chen', 'investigator')).token
    // Two doors down Market St (about 50 m apart), and a unit across town the circle must leave out.
    for (const [id, address, hold, lat, lon] of [
      [HELD, '3 Market St', true, 29.3, 117.2],
      [OTHER, '5 Market St', false, 29.3003, 117.2003],
    ] as const) {
      const c = await gw.gateway.registry.create(
        deviceRow({ id, address, releasePolicy: 'always', lat, lon }),
      )
      const unit = new TestUnit({
        baseUrl: gw.gateway.httpUrl,
        mqttUrl: gw.gateway.mqttUrl,
        id: c.id,
        secret: c.secret,
        clip,
        holdHalfway: hold,
      })
      await unit.connect()
      units.push(unit)
    }
    await gw.gateway.registry.create(
      deviceRow({ id: 'river-rd-9', address: '9 River Rd', lat: 29.312, lon: 117.221 }),
    )
  })

  afterAll(async () => {
    units[0]?.release()
    for (const u of units) await u.disconnect().catch(() => undefined)
    await tb?.close()
    await zh?.close()
    await gw?.stop()
    data.cleanup()
  })

  it('opens the case from the form, the area picked on the map, the preview counting both units first', async () => {
    tb = await launchBrowser()
    const page = tb.page
    await signIn(page, investigator, gw.gateway.httpUrl)
    await page.getByTestId('nav-cases').click()
    await page.getByTestId('cases-list').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('case-new-link').click()
    await page.getByTestId('new-case').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('case-number').fill(CASE_NUMBER)
    await page.getByTestId('case-reason').fill(REASON)
    // The crime was at 3 Market St: a click on that shop's unit puts the circle's centre there.
    await page.getByTestId('case-kind').selectOption('radius')
    await page.locator('[data-testid=case-map][data-units="3"]').waitFor({ timeout: UI_TIMEOUT })
    await zoomToUnit(page, 'case-map', HELD, 2)
    await page.getByTestId('case-map').getByTestId(`map-unit-${HELD}`).click()
    expect(Number(await page.getByTestId('case-lat').inputValue())).toBeCloseTo(29.3, 6)
    expect(Number(await page.getByTestId('case-lon').inputValue())).toBeCloseTo(117.2, 6)
    await page.getByTestId('case-radiusM').fill('150')
    const summary = page.getByTestId('case-preview-summary')
    await expect.poll(() => summary.getAttribute('data-devices'), { timeout: UI_TIMEOUT }).toBe('2')
    expect(await summary.textContent()).toContain('2 units (always 2 / ask 0 / never 0), 2 online')
    // Nothing is opened by a preview.
    const before = await api<{ cases: CaseView[] }>(gw.gateway.httpUrl, 'GET', '/api/v1/cases', investigator)
    expect(before.body.cases).toEqual([])
    await tb.screenshot('cases-new')
    // A number the gateway refuses is shown beside its field, and nothing is opened.
    await page.getByTestId('case-number').fill('no spaces allowed')
    await page.getByTestId('case-submit').click()
    await page.getByTestId('error-case-number').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('case-number').getAttribute('aria-invalid')).toBe('true')
    await page.getByTestId('case-number').fill(CASE_NUMBER)
    await page.getByTestId('case-submit').click()
    await page.getByTestId('case-page').waitFor({ timeout: UI_TIMEOUT })
    caseId = /#\/case\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? ''
    expect(caseId).not.toBe('')
    expect(await page.getByTestId('case-heading').textContent()).toBe(`Case ${CASE_NUMBER}`)
    expect(
      await page.getByTestId(`case-unit-${HELD}`).getByTestId('pull-state').getAttribute('data-state'),
    ).toBe('none')
  })

  it('requests the pulls and follows an upload live, halfway then done', async () => {
    const page = (tb as TestBrowser).page
    const navigations: string[] = []
    page.on('framenavigated', (f) => navigations.push(f.url()))
    await page.getByTestId('case-pulls').click()
    const held = page.getByTestId(`case-unit-${HELD}`).getByTestId('pull-state')
    await expect.poll(() => held.getAttribute('data-state'), { timeout: 20_000 }).toBe('uploading')
    const text = page.getByTestId(`case-unit-${HELD}`).getByTestId('pull-text')
    await expect
      .poll(async () => (await text.textContent()) ?? '', { timeout: UI_TIMEOUT })
      .toMatch(/\d+%\)$/)
    expect(await page.getByTestId(`case-unit-${HELD}`).locator('progress').count()).toBe(1)
    const other = page.getByTestId(`case-unit-${OTHER}`).getByTestId('pull-state')
    await expect.poll(() => other.getAttribute('data-state'), { timeout: 20_000 }).toBe('done')
    await (tb as TestBrowser).screenshot('case-page')
    units[0]?.release()
    await expect.poll(() => held.getAttribute('data-state'), { timeout: 20_000 }).toBe('done')
    // Live over the socket: the page was never reloaded.
    expect(navigations).toEqual([])
  })

  it('downloads the export, which the verify command shown beside it accepts', async () => {
    const page = (tb as TestBrowser).page
    const fingerprint = page.getByTestId('case-fingerprint')
    await fingerprint.waitFor({ timeout: UI_TIMEOUT })
    const key = ((await fingerprint.textContent()) ?? '').trim()
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    expect(await page.getByTestId('case-verify-command').textContent()).toBe(
      `npx doorstep verify <file> --key ${key}`,
    )
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      page.getByTestId('case-export').click(),
    ])
    expect(download.suggestedFilename()).toBe(`case-${CASE_NUMBER}.zip`)
    const file = path.join(data.dir, download.suggestedFilename())
    await download.saveAs(file)
    expect(fs.statSync(file).size).toBeGreaterThan(clip.buf.length)
    const { stdout } = await run(process.execPath, [CLI, 'verify', file, '--key', key], { cwd: ROOT })
    expect(stdout.length).toBeGreaterThan(0)
    // The refused case number (a 400) is the only failure the browser reports.
    const errors = (tb as TestBrowser).errors
    expect(errors.filter((e) => /status of 400/.test(e)).length).toBe(1)
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([])
  })

  it('shows the case page in Chinese', async () => {
    zh = await launchBrowser({ locale: 'zh-CN' })
    await signIn(zh.page, investigator, gw.gateway.httpUrl)
    await zh.page.getByTestId('nav-cases').waitFor({ timeout: UI_TIMEOUT })
    await zh.page.goto(`${gw.gateway.httpUrl}/#/case/${caseId}`)
    const heading = zh.page.getByTestId('case-heading')
    await heading.waitFor({ timeout: UI_TIMEOUT })
    expect(await heading.textContent()).toBe(`案件 ${CASE_NUMBER}`)
    expect(await zh.page.getByTestId(`case-unit-${HELD}`).getByTestId('pull-state').textContent()).toBe(
      '已完成',
    )
    expect(await zh.page.getByTestId('case-export').textContent()).toBe('下载证据导出')
    await zh.screenshot('case-page-zh')
    await zh.page.goto(`${gw.gateway.httpUrl}/#/cases/new`)
    await zh.page.getByTestId('new-case').waitFor({ timeout: UI_TIMEOUT })
    expect(await zh.page.getByTestId('new-case').locator('h1').textContent()).toBe('新建案件')
    await zh.screenshot('cases-new-zh')
    expect(zh.errors).toEqual([])
  })
})
