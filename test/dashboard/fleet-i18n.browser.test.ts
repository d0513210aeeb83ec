import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { DeviceCredentials } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CATALOGUE } from '../../dashboard/src/i18n/catalogue.js'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * The fleet's pages in a Chromium whose language is Chinese, against a real gateway with a unit online
 * and one gone offline: every heading is the Chinese catalogue's, and no English word is left on the
 * page, only the product's name, binary size units and a few technical terms. Then the reader switches
 * to English in the header and the page follows. Screenshots land in test-results/.
 */

const DISTRICT = 9
const UI_TIMEOUT = 15_000
const zh = (key: string, values: Record<string, string | number> = {}): string => {
  const [room, ...rest] = key.split('.')
  const rooms = CATALOGUE as Record<string, { 'zh-CN': Record<string, string> }>
  const source = rooms[room ?? '']?.['zh-CN'][rest.join('.')]
  if (source === undefined) throw new Error(`no message ${key}`)
  return source.replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? `{${name}}`))
}

/** Latin words a Chinese page may show: the product's name and units and terms written so in Chinese too. */
const ALLOWED = new Set(['Doorstep', 'MiB', 'GiB', 'KiB', 'ID', 'MQTT', 'dBm'])
const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of 404/

describe('fleet pages in Chinese', () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  const data = tempDir('doorstep-fleet-i18n-')
  let gw: TestGateway
  let tb: TestBrowser
  let online: DeviceCredentials
  let gone: DeviceCredentials
  let client: MqttClient | null = null

  const page = () => tb.page
  const testId = (id: string) => page().getByTestId(id)
  const heading = () => page().locator('main h1').first()

  /** A unit's own records (serial, model, contact) are data, not the dashboard's words. */
  function unitData(): string[] {
    const out: string[] = []
    for (const u of [online, gone]) {
      const rec = gw.gateway.registry.get(u.id)
      if (rec) out.push(rec.serial, rec.model, rec.firmware, rec.address, rec.ownerContact)
    }
    return out.filter((s) => s.length > 0).sort((a, b) => b.length - a.length)
  }

  /** The English words left in `text` once unit ids, the units' own data and numbers are taken out. */
  function englishWords(text: string): string[] {
    let rest = text
    for (const s of unitData()) rest = rest.split(s).join(' ')
    rest = rest.replace(/cam-[0-9a-f]+/g, ' ').replace(/[0-9]+/g, ' ')
    return (rest.match(/[A-Za-z]{2,}/g) ?? []).filter((w) => !ALLOWED.has(w))
  }

  async function mainText(): Promise<string> {
    return page().evaluate(() => {
      const main = document.querySelector<HTMLElement>('main#main')
      if (!main) return ''
      // A unit's list of events, under the last heading of its page, is worded by the events room.
      const devicePage = main.querySelector<HTMLElement>('[data-testid=device-page]')
      // biome-ignore lint/performance/useDomNodeTextContent: the text a reader sees, without hidden nodes' text
      if (!devicePage) return main.innerText
      const kids = [...devicePage.children] as HTMLElement[]
      const last = kids.findLastIndex((k) => k.tagName === 'H2')
      const outside = ([...main.children] as HTMLElement[]).filter((k) => k !== devicePage)
      // biome-ignore lint/performance/useDomNodeTextContent: the text a reader sees, without hidden nodes' text
      return [...outside, ...kids.slice(0, last + 1)].map((k) => k.innerText).join('\n')
    })
  }

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({ DOORSTEP_ADMIN_TOKEN: token, DOORSTEP_DATA_DIR: data.dir })
    online = await gw.gateway.registry.create(deviceRow({ district: DISTRICT, address: '和平路9号' }))
    gone = await gw.gateway.registry.create(deviceRow({ district: DISTRICT, address: '解放路17号' }))
    tb = await launchBrowser({ locale: 'zh-CN' })
  })

  afterAll(async () => {
    if (client) await end(client)
    await tb?.close()
    await gw?.stop()
    data.cleanup()
  })

  it('shows the fleet in Chinese', async () => {
    await page().goto(gw.gateway.httpUrl)
    expect(await page().evaluate(() => document.documentElement.lang)).toBe('zh-CN')
    await signIn(page(), token)
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })

    const left = await connectUnit(gw.gateway.mqttUrl, gone.id, gone.secret)
    await publish(left, `cam/${gone.id}/heartbeat`, heartbeat({}), 0)
    await end(left)
    client = await connectUnit(gw.gateway.mqttUrl, online.id, online.secret)
    await publish(client, `cam/${online.id}/heartbeat`, heartbeat({ batteryPct: 80 }), 0)
    await page()
      .locator(`[data-testid=district-${DISTRICT}][data-online="1"][data-offline="1"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    await testId('health-at').waitFor()

    expect(await heading().textContent()).toBe(zh('shell.title.fleet'))
    expect(englishWords(await mainText())).toEqual([])
    expect(await testId(`district-${DISTRICT}`).getAttribute('aria-label')).toContain(`第${DISTRICT}警区`)
    await tb.screenshot('i18n-zh-fleet')
  })

  it('shows a district in Chinese', async () => {
    await testId(`district-${DISTRICT}`).click()
    await expect
      .poll(() => testId('devices-title').textContent())
      .toBe(zh('shell.title.district', { district: DISTRICT }))
    await page()
      .locator(`[data-testid=device-row][data-device-id="${online.id}"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    await page().locator(`[data-testid=device-row][data-device-id="${gone.id}"]`).waitFor()
    expect(englishWords(await mainText())).toEqual([])
    expect(await page().locator('.badge[data-state=online]').first().textContent()).toBe(
      zh('fleet.state.online'),
    )
    expect(await page().locator('.badge[data-state=offline]').first().textContent()).toBe(
      zh('fleet.state.offline'),
    )
    await tb.screenshot('i18n-zh-district')
  })

  it('shows all units in Chinese', async () => {
    await page().goto(`${gw.gateway.httpUrl}/#/devices`)
    await expect.poll(() => testId('devices-title').textContent()).toBe(zh('shell.title.devices'))
    await page()
      .locator(`[data-testid=device-row][data-device-id="${online.id}"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    expect(englishWords(await mainText())).toEqual([])
    await tb.screenshot('i18n-zh-devices')
  })

  it("shows a unit's page in Chinese", async () => {
    await page().locator(`[data-testid=device-row][data-device-id="${online.id}"]`).click()
    await testId('device-page').waitFor()
    await page().locator('[data-testid=chart-storage] canvas').first().waitFor({ timeout: UI_TIMEOUT })
    expect(await heading().textContent()).toBe(online.id)
    expect(await testId('presence').textContent()).toContain(zh('fleet.state.online'))
    expect(await page().locator('main h2').first().textContent()).toBe(zh('fleet.device.heartbeats'))
    expect(englishWords(await mainText())).toEqual([])
    await tb.screenshot('i18n-zh-device')
  })

  it('shows offline units in Chinese', async () => {
    await page().goto(`${gw.gateway.httpUrl}/#/offline`)
    await page()
      .locator(`[data-testid=offline-row][data-device-id="${gone.id}"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    expect(await heading().textContent()).toBe(zh('fleet.offline.title'))
    expect(englishWords(await mainText())).toEqual([])
    await tb.screenshot('i18n-zh-offline')
  })

  it('switches to English from the header', async () => {
    await testId('language').selectOption('en')
    await expect.poll(() => heading().textContent()).toBe('Offline and stale units')
    expect(await page().evaluate(() => document.documentElement.lang)).toBe('en')
    expect(await testId('offline-total').textContent()).toMatch(/units down/)
    await page().goto(`${gw.gateway.httpUrl}/#/`)
    await expect.poll(() => heading().textContent()).toBe('Fleet health')
    await tb.screenshot('i18n-en-fleet')
    expect(tb.errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([])
  })
})
