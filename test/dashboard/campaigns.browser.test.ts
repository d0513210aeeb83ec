import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { type CampaignView, topicFor, UpdateCommand } from '@doorstep/proto'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Fleet } from '../../device-sim/src/fleet.js'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { campaign, createCampaign, FIRMWARE_ENV, updateFleet, uploadImage } from '../firmware/helpers.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { until } from '../helpers/wait.js'

/*
 * Firmware in Chromium against a real gateway and simulated units over MQTT: an admin uploads an image
 * through the page (a refused field first), makes a campaign with a canary and watches its units go
 * through their steps to done, live; a second campaign, whose units' new firmware never boots, pauses
 * itself and the open page says so and why without a reload; resume and cancel from the page; a
 * hand-made unit's download in bytes and percent, then its failure; the same pages in Chinese;
 * investigators are refused, ops may watch but not act.
 */

const UI_TIMEOUT = 15_000
const MODEL = 'DS-C3W'

/** Unit states the page has shown since `watchUnits`; it lives on `window`, so a reload would lose it. */
async function watchUnits(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen = new Set<string>()
    ;(window as unknown as { seenStates: Set<string> }).seenStates = seen
    const note = () => {
      for (const el of document.querySelectorAll('[data-testid=unit-state]'))
        seen.add(el.getAttribute('data-state') ?? '')
    }
    note()
    new MutationObserver(note).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-state'],
    })
  })
}

async function seenStates(page: Page): Promise<string[] | null> {
  return page.evaluate(() => {
    const seen = (window as unknown as { seenStates?: Set<string> }).seenStates
    return seen ? [...seen].sort() : null
  })
}

const count = (page: Page, state: string) =>
  page.getByTestId(`count-${state}`).getAttribute('data-count').then(Number)

describe('firmware campaigns in the dashboard', { timeout: 120_000 }, () => {
  let gw: TestGateway
  let good: { fleet: Fleet; cleanup: () => Promise<void> } | null = null
  let bad: { fleet: Fleet; cleanup: () => Promise<void> } | null = null
  const browsers: TestBrowser[] = []
  let admin: TestBrowser
  /** Chinese, then signed in again as an investigator and as ops: each launch costs seconds. */
  let zh: TestBrowser
  let failingId = ''
  let failingName = ''

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway(FIRMWARE_ENV)
    good = await updateFleet(gw, 4, {}, 'fwok-')
  })

  afterAll(async () => {
    for (const b of browsers) await b.close()
    await good?.cleanup()
    await bad?.cleanup()
    await gw?.stop()
  })

  async function open(opts: { locale?: 'en' | 'zh-CN' } = {}): Promise<TestBrowser> {
    const b = await launchBrowser(opts)
    browsers.push(b)
    return b
  }

  it('uploads an image through the page, the gateway refusing an empty model by field first', async () => {
    admin = await open()
    const page = admin.page
    await signIn(page, gw.adminToken, gw.gateway.httpUrl)
    // Firmware is a tab of the one operations link.
    await page.getByTestId('nav-ops').click({ timeout: UI_TIMEOUT })
    await page.getByTestId('ops-tab-firmware').click({ timeout: UI_TIMEOUT })
    await page.getByTestId('upload-form').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('images-none').waitFor({ timeout: UI_TIMEOUT })

    // No file: said by the form itself.
    await page.getByTestId('upload-submit').click()
    await page.getByTestId('error-fw-file').waitFor({ timeout: UI_TIMEOUT })

    await page.getByTestId('fw-file').setInputFiles({
      name: 'ds-c3w-3.0.0.bin',
      mimeType: 'application/octet-stream',
      buffer: randomBytes(300_000),
    })
    await page.getByTestId('fw-version').fill('3.0.0')
    await page.getByTestId('upload-submit').click()
    // No model: the gateway's schema refuses it, shown beside the field.
    await page.getByTestId('error-fw-model').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('error-fw-version').count()).toBe(0)

    await page.getByLabel('Model').fill(MODEL)
    await page.getByTestId('upload-submit').click()
    await page.getByTestId('upload-done').waitFor({ timeout: UI_TIMEOUT })
    const row = page.getByTestId(`image-${MODEL}-3.0.0`)
    await row.waitFor({ timeout: UI_TIMEOUT })
    const listed = await api<{ images: Array<{ sha256: string; keyFingerprint: string; size: number }> }>(
      gw.gateway.httpUrl,
      'GET',
      '/api/v1/firmware/images',
      gw.adminToken,
    )
    const img = listed.body.images[0]
    expect(img?.size).toBe(300_000)
    expect(await row.getByTestId('image-sha').textContent()).toBe(`${img?.sha256.slice(0, 12)}…`)
    expect(await row.getByTestId('image-sha').getAttribute('title')).toBe(img?.sha256)
    expect(await row.getByTestId('image-key').getAttribute('title')).toBe(img?.keyFingerprint)
    expect(await row.textContent()).toContain('293.0 KiB')
    await admin.screenshot('firmware-images')
  })

  it('makes a campaign with a canary and shows its units reach done, live', async () => {
    const page = admin.page
    const targets = (good as { fleet: Fleet }).fleet.plan.filter((u) => u.model === MODEL)
    expect(targets.length).toBeGreaterThanOrEqual(2)
    await page.getByTestId('ops-tab-campaigns').click()
    await page.getByTestId('campaign-new-link').click()
    await page.getByTestId('campaign-form').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('cmp-name').fill('Spring update')
    await page.getByTestId('cmp-fromMax').fill('2.9')
    // A district that does not exist is named beside the field, nothing is sent.
    await page.getByTestId('cmp-districts').fill('12, 99')
    await page.getByTestId('campaign-submit').click()
    expect(await page.getByTestId('error-cmp-districts').textContent()).toContain('99')
    await page.getByTestId('cmp-districts').fill(targets.map((u) => u.district).join(', '))
    await page.getByTestId('cmp-canaryPct').fill('50')
    await page.getByTestId('cmp-waves').fill('100')
    await page.getByTestId('cmp-pauseMinFinished').fill('1')
    await page.getByTestId('campaign-submit').click()

    await page.locator('[data-testid=campaign-page][data-state=draft]').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('campaign-units-count').textContent()).toBe(String(targets.length))
    expect(await count(page, 'pending')).toBe(targets.length)

    const unitFetches: string[] = []
    page.on('request', (r) => {
      if (/\/api\/v1\/campaigns\/[^/]+\/units/.test(r.url())) unitFetches.push(r.url())
    })
    await watchUnits(page)
    await page.getByTestId('campaign-start').click()
    await page.locator('[data-testid=campaign-page][data-state=done]').waitFor({ timeout: 45_000 })
    await expect.poll(() => count(page, 'done'), { timeout: UI_TIMEOUT }).toBe(targets.length)
    // The steps between offer and done came from the socket: the page was not reloaded and fetched
    // the units only when the campaign itself changed state (started, done).
    const seen = await seenStates(page)
    expect(seen).not.toBeNull()
    expect(seen).toEqual(expect.arrayContaining(['pending', 'installing', 'done']))
    expect(unitFetches.length).toBeLessThanOrEqual(4)
    expect(await page.getByTestId('campaign-state').textContent()).toBe('Done')
    await admin.screenshot('campaign-done')
  })

  it('shows a failing campaign pause itself with the reason, then resumes and cancels it', async () => {
    const page = admin.page
    bad = await updateFleet(gw, 4, { bootFailRate: 1 }, 'fwbad-')
    const targets = bad.fleet.plan.filter((u) => u.model === MODEL)
    const img = await uploadImage(gw.gateway.httpUrl, gw.adminToken, MODEL, '4.0.0')
    expect(img.status).toBe(201)
    // The good units run 3.0.0 now, outside this range: only the failing ones are chosen.
    const c: CampaignView = await createCampaign(gw, {
      name: 'Broken build',
      imageId: img.body.id,
      fromVersions: { min: '0', max: '2.9' },
      districts: [...new Set(targets.map((u) => u.district))],
      canaryPct: 50,
      waves: [100],
      pauseFailurePct: 50,
      pauseMinFinished: 1,
    })
    expect(c.units).toBe(targets.length)
    failingId = c.id
    failingName = c.name

    await page.getByTestId('ops-tab-campaigns').click()
    await page.getByTestId('campaign-row-Broken build').getByRole('link').click()
    await page.locator('[data-testid=campaign-page][data-state=draft]').waitFor({ timeout: UI_TIMEOUT })
    await watchUnits(page)
    await page.getByTestId('campaign-start').click()

    const state = page.getByTestId('campaign-state')
    await page.locator('[data-testid=campaign-state][data-state=paused]').waitFor({ timeout: 30_000 })
    expect(await state.textContent()).toMatch(
      /^Paused \(canary\): failure rate 100% \(1 of 1 finished\) is over 50%$/,
    )
    expect(await seenStates(page)).toEqual(expect.arrayContaining(['rolled-back']))
    await expect.poll(() => count(page, 'rolled-back'), { timeout: UI_TIMEOUT }).toBe(1)
    const rolledBack = page.locator('[data-testid=unit-state][data-state=rolled-back]')
    expect(await rolledBack.textContent()).toBe('Rolled back: 4.0.0 did not boot')
    // Drawn, not only in the DOM: the units' list has room for its rows.
    expect(await rolledBack.isVisible()).toBe(true)
    expect(await page.getByTestId('campaign-pause').count()).toBe(0)
    await admin.screenshot('campaign-paused')

    // Resumed, the next wave is offered, fails too, and pauses it again.
    await page.getByTestId('campaign-resume').click()
    await expect.poll(() => state.getAttribute('data-wave'), { timeout: 30_000 }).toBe('1')
    await page.locator('[data-testid=campaign-state][data-state=paused]').waitFor({ timeout: 30_000 })
    expect(await state.textContent()).toContain('Paused (wave 1 of 1)')
    expect((await campaign(gw, c.id)).state).toBe('paused')

    let asked = ''
    page.once('dialog', (d) => {
      asked = d.message()
      void d.accept()
    })
    await page.getByTestId('campaign-cancel').click()
    await page.locator('[data-testid=campaign-page][data-state=cancelled]').waitFor({ timeout: UI_TIMEOUT })
    expect(asked).toContain('Broken build')
    expect(await state.textContent()).toBe('Cancelled')
    expect(await page.getByTestId('campaign-resume').count()).toBe(0)
    expect((await campaign(gw, c.id)).state).toBe('cancelled')
    // Still the same page: the pause, the resume and the cancel all arrived without a reload.
    expect(await seenStates(page)).not.toBeNull()
    // The one error the page met was the upload refused on purpose in the first test.
    expect(admin.errors).toEqual([
      'console: Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ])
  })

  it("shows a unit's download in bytes and percent, and why it failed", async () => {
    const page = admin.page
    // A hand-made unit says exactly what the test tells it: half the image downloaded, then a failure.
    const c = await gw.gateway.registry.create(
      deviceRow({ id: 'fw-hand-1', district: 30, model: 'DS-X9', firmware: '1.0.0' }),
    )
    const client = await connectUnit(gw.gateway.mqttUrl, c.id, c.secret)
    try {
      const commands: UpdateCommand[] = []
      client.on('message', (_t, payload) => {
        const cmd = UpdateCommand.safeParse(JSON.parse(String(payload)))
        if (cmd.success) commands.push(cmd.data)
      })
      await new Promise<void>((resolve, reject) =>
        client.subscribe(topicFor('cmd', c.id), { qos: 1 }, (err) => (err ? reject(err) : resolve())),
      )
      const ack = (cmdId: string, status: 'downloading' | 'failed', extra: Record<string, unknown>) =>
        publish(client, topicFor('cmdAck', c.id), { v: 1, ts: Date.now(), cmdId, status, ...extra })
      const img = await uploadImage(gw.gateway.httpUrl, gw.adminToken, 'DS-X9', '1.1.0', randomBytes(200_000))
      const made = await createCampaign(gw, {
        name: 'One unit',
        imageId: img.body.id,
        districts: [30],
        canaryPct: 100,
        waves: [100],
      })
      await page.goto(`${gw.gateway.httpUrl}/#/campaign/${made.id}`)
      await page.getByTestId('campaign-start').click()
      await until('the offer', () => commands.length > 0)
      const cmdId = (commands[0] as UpdateCommand).cmdId

      await ack(cmdId, 'downloading', { bytes: 100_000 })
      const cell = page.locator('[data-unit=fw-hand-1] [data-testid=unit-state]')
      await page.locator('[data-unit=fw-hand-1] [data-state=downloading]').waitFor({ timeout: UI_TIMEOUT })
      expect(await cell.getByTestId('unit-text').textContent()).toBe(
        'Downloading 97.7 KiB of 195.3 KiB (50%)',
      )
      expect(await cell.locator('progress').evaluate((el) => (el as HTMLProgressElement).position)).toBe(0.5)
      expect(await count(page, 'downloading')).toBe(1)
      await admin.screenshot('campaign-downloading')

      await ack(cmdId, 'failed', { reason: 'storage full' })
      await page.locator('[data-unit=fw-hand-1] [data-state=failed]').waitFor({ timeout: UI_TIMEOUT })
      expect(await cell.textContent()).toBe('Failed: storage full')
      expect(await count(page, 'failed')).toBe(1)
    } finally {
      await end(client)
    }
  })

  it('says it all in Chinese', async () => {
    zh = await open({ locale: 'zh-CN' })
    const page = zh.page
    await signIn(page, gw.adminToken, gw.gateway.httpUrl)
    const nav = page.getByTestId('nav-ops').first()
    await nav.waitFor({ state: 'attached', timeout: UI_TIMEOUT })
    expect(await nav.textContent()).toBe('运维')
    await page.goto(`${gw.gateway.httpUrl}/#/campaign/${failingId}`)
    await page.locator('[data-testid=campaign-page][data-state=cancelled]').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`升级任务“${failingName}”`)
    expect(await page.getByTestId('campaign-state').textContent()).toBe('已取消')
    expect(await page.getByTestId('count-rolled-back').textContent()).toContain('已回滚')
    expect(await page.getByTestId('ops-tab-campaigns').textContent()).toBe('升级任务')
    await zh.screenshot('campaign-zh')
    await page.getByTestId('ops-tab-firmware').click()
    await page.getByTestId('upload-form').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('固件映像')
    expect(await page.getByTestId('upload-submit').textContent()).toBe('上传')
    await zh.screenshot('firmware-zh')
    expect(zh.errors).toEqual([])
  })

  it('refuses investigators; ops may watch a campaign but not act on it', async () => {
    const page = zh.page
    const signOut = async () => {
      await page.getByTestId('sign-out').first().click()
      await page.getByTestId('signin-token').waitFor({ timeout: UI_TIMEOUT })
    }
    await signOut()
    const invToken = (await gw.gateway.tokens.issue('Det. Insp. Chen', 'investigator')).token
    await signIn(page, invToken)
    await page.getByTestId('nav-cases').first().waitFor({ state: 'attached', timeout: UI_TIMEOUT })
    expect(await page.getByTestId('nav-ops').count()).toBe(0)
    await page.goto(`${gw.gateway.httpUrl}/#/campaigns`)
    await page.getByTestId('forbidden').waitFor({ timeout: UI_TIMEOUT })
    // The gateway refuses the same, whatever the page shows.
    const refused = await api(gw.gateway.httpUrl, 'GET', '/api/v1/campaigns', invToken)
    expect(refused.status).toBe(403)

    await signOut()
    const opsToken = (await gw.gateway.tokens.issue('Night ops', 'ops')).token
    await signIn(page, opsToken)
    await page.getByTestId('nav-ops').first().waitFor({ state: 'attached', timeout: UI_TIMEOUT })
    await page.goto(`${gw.gateway.httpUrl}/#/campaign/${failingId}`)
    await page.locator('[data-testid=campaign-page][data-state=cancelled]').waitFor({ timeout: UI_TIMEOUT })
    expect(await page.locator('[data-testid^=campaign-]:is(button)').count()).toBe(0)
    await page.goto(`${gw.gateway.httpUrl}/#/firmware`)
    await page.getByTestId(`image-${MODEL}-4.0.0`).waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('upload-form').count()).toBe(0)
    await page.goto(`${gw.gateway.httpUrl}/#/campaigns/new`)
    await page.getByTestId('forbidden').waitFor({ timeout: UI_TIMEOUT })
    expect(zh.errors).toEqual([])
  })
})
