import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { DeviceCredentials } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CATALOGUE } from '../../dashboard/src/i18n/catalogue.js'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { zoomToUnit } from '../helpers/map.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * The map of units in Chromium against a real gateway with real MQTT units: three districts' units
 * grouped when zoomed out, coloured by live state as units come and go, a group opening on a click and
 * a unit opening its page; without tiles (the default) the same map on a plain background with the
 * districts' outlines, with tiles from a tile server on loopback when one is configured; the case
 * form's area picked on it (a district, a circle around a unit, units ticked); and all of it in Chinese.
 */

const UI_TIMEOUT = 15_000
const zhText = (key: string): string => {
  const [room, ...rest] = key.split('.')
  const rooms = CATALOGUE as Record<string, { 'zh-CN': Record<string, string> }>
  const source = rooms[room ?? '']?.['zh-CN'][rest.join('.')]
  if (source === undefined) throw new Error(`no message ${key}`)
  return source
}

/** About 80 m between neighbours: grouped at the fitted zoom, apart when zoomed in. */
const STEP = 0.0008
const GROUPS = [
  { district: 9, lat: 29.3, lon: 117.2, count: 12 },
  { district: 10, lat: 29.312, lon: 117.215, count: 5 },
  { district: 11, lat: 29.29, lon: 117.188, count: 2 },
] as const
const TOTAL = GROUPS.reduce((n, g) => n + g.count, 0)
/** Of district 9's units: these come online, and the next two go offline; the rest are never seen. */
const ONLINE = 6
const OFFLINE = 2

const ALLOWED = new Set(['Doorstep'])
const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of 404/

async function tileServer(): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const png = await sharp({
    create: { width: 256, height: 256, channels: 3, background: { r: 200, g: 220, b: 235 } },
  })
    .png()
    .toBuffer()
  const requests: string[] = []
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '')
    if (!/^\/\d+\/\d+\/\d+\.png$/.test(req.url ?? '')) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/{z}/{x}/{y}.png`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

describe('the map of units', { timeout: 90_000 }, () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  const data = tempDir('doorstep-map-')
  let gw: TestGateway
  let tiled: TestGateway
  let tiles: Awaited<ReturnType<typeof tileServer>>
  let tb: TestBrowser | null = null
  let zh: TestBrowser | null = null
  const units: DeviceCredentials[] = []
  const clients: MqttClient[] = []

  const signIn = async (b: TestBrowser, base: string, secret: string) => {
    await b.page.goto(base)
    await b.page.getByTestId('signin-token').fill(secret)
    await b.page.getByTestId('signin-submit').click()
    await b.page.locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })
  }
  const count = (b: TestBrowser, state: string) =>
    b.page.getByTestId(`map-count-${state}`).getAttribute('data-count')

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    tiles = await tileServer()
    ;[gw, tiled] = await Promise.all([
      startTestGateway({ DOORSTEP_ADMIN_TOKEN: token, DOORSTEP_DATA_DIR: data.dir }),
      startTestGateway({ DOORSTEP_MAP_TILES: tiles.url, DOORSTEP_MAP_ATTRIBUTION: 'Loopback test tiles' }),
    ])
    for (const g of GROUPS) {
      for (let i = 0; i < g.count; i++) {
        const row = deviceRow({
          id: `map-${g.district}-${String(i + 1).padStart(2, '0')}`,
          district: g.district,
          lat: g.lat + Math.floor(i / 4) * STEP,
          lon: g.lon + (i % 4) * STEP,
          releasePolicy: 'always',
        })
        units.push(await gw.gateway.registry.create(row))
        await tiled.gateway.registry.create(row)
      }
    }
    for (const u of units.slice(0, ONLINE + OFFLINE))
      clients.push(await connectUnit(gw.gateway.mqttUrl, u.id, u.secret))
    for (const c of clients.splice(ONLINE, OFFLINE)) await end(c)
  })

  afterAll(async () => {
    for (const c of clients) await end(c).catch(() => undefined)
    await tb?.close()
    await zh?.close()
    await Promise.all([gw?.stop(), tiled?.stop()])
    await tiles?.close()
    data.cleanup()
  })

  it('groups the units, coloured by state, on a plain background with district outlines', async () => {
    tb = await launchBrowser()
    await signIn(tb, gw.gateway.httpUrl, token)
    await tb.page.getByTestId('nav-map').click()
    const map = tb.page.getByTestId('unit-map')
    await tb.page.locator(`[data-testid=unit-map][data-units="${TOTAL}"]`).waitFor({ timeout: UI_TIMEOUT })
    expect(await map.getAttribute('data-tiles')).toBe('off')
    await tb.page.getByTestId('map-plain').waitFor()
    expect(await count(tb, 'online')).toBe(String(ONLINE))
    expect(await count(tb, 'offline')).toBe(String(OFFLINE))
    expect(await count(tb, 'unknown')).toBe(String(TOTAL - ONLINE - OFFLINE))

    // Fitted to the fleet: everything in view, grouped, and the groups add up to the fleet.
    await map.getByTestId('map-cluster').first().waitFor({ timeout: UI_TIMEOUT })
    const inClusters = await map
      .getByTestId('map-cluster')
      .evaluateAll((els) => els.reduce((n, el) => n + Number(el.getAttribute('data-count')), 0))
    const alone = await map.locator('[data-testid^=map-unit-]').count()
    expect(inClusters + alone).toBe(TOTAL)
    expect(inClusters).toBeGreaterThan(0)
    // District 9's group holds the offline units; a group's colour goes by its worst news.
    const withOffline = map.locator('[data-testid=map-cluster][data-offline="2"]')
    expect(await withOffline.count()).toBe(1)
    expect(await withOffline.getAttribute('class')).toContain('tone-offline')

    // No tiles asked for; each district outlined and labelled, the label a link to its units.
    expect(await map.locator('img.leaflet-tile').count()).toBe(0)
    expect(await map.locator('path.district-outline').count()).toBe(GROUPS.length)
    for (const g of GROUPS) {
      const label = map.getByTestId(`map-district-${g.district}`)
      expect(await label.textContent()).toBe(`District ${g.district}`)
      expect(await label.getAttribute('href')).toBe(`#/district/${g.district}`)
    }
    await tb.screenshot('map-en')
    expect(tb.errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([])
  })

  it('follows presence live: a unit that drops turns red without a reload', async () => {
    const b = tb as TestBrowser
    const navigations: string[] = []
    b.page.on('framenavigated', (f) => navigations.push(f.url()))
    const c = clients.pop()
    if (!c) throw new Error('no online unit left')
    await end(c)
    await expect.poll(() => count(b, 'offline'), { timeout: UI_TIMEOUT }).toBe(String(OFFLINE + 1))
    expect(await count(b, 'online')).toBe(String(ONLINE - 1))
    expect(navigations).toEqual([])
    // "Offline and stale only" keeps the three dark units on the map.
    await b.page.getByTestId('map-filter').selectOption('problems')
    await b.page.locator('[data-testid=unit-map][data-units="3"]').waitFor({ timeout: UI_TIMEOUT })
    await b.page.getByTestId('map-filter').selectOption('all')
    await b.page.locator(`[data-testid=unit-map][data-units="${TOTAL}"]`).waitFor({ timeout: UI_TIMEOUT })
  })

  it('opens a group with a click, and a unit opens its page', async () => {
    const b = tb as TestBrowser
    const target = units[0]?.id ?? ''
    await zoomToUnit(b.page, 'unit-map', target, 12)
    const marker = b.page.getByTestId(`map-unit-${target}`)
    expect(await marker.getAttribute('data-state')).toBe('online')
    await b.screenshot('map-zoomed-en')
    await marker.click()
    await b.page.getByTestId('device-page').waitFor({ timeout: UI_TIMEOUT })
    expect(b.page.url()).toContain(`#/device/${target}`)
  })

  it('picks the case area on the map: a district, a circle around a unit, ticked units', async () => {
    const b = tb as TestBrowser
    await b.page.goto(`${gw.gateway.httpUrl}/#/cases/new`)
    const map = b.page.getByTestId('case-map')
    await b.page.locator(`[data-testid=case-map][data-units="${TOTAL}"]`).waitFor({ timeout: UI_TIMEOUT })
    const summary = b.page.getByTestId('case-preview-summary')

    // A district: click its outline; the list follows, and the preview counts its units.
    await b.page.getByTestId('case-kind').selectOption('district')
    await map.getByTestId('map-district-10').click()
    expect(await b.page.getByTestId('case-district').inputValue()).toBe('10')
    await expect.poll(() => summary.getAttribute('data-devices'), { timeout: UI_TIMEOUT }).toBe('5')
    expect(await map.locator('path.district-outline.chosen').count()).toBe(1)

    // A circle: a click on a unit puts the centre on it; 100 m takes it and its three neighbours at 80 m.
    await b.page.getByTestId('case-kind').selectOption('radius')
    const centre = units[5] as DeviceCredentials
    await zoomToUnit(b.page, 'case-map', centre.id, 12)
    await map.getByTestId(`map-unit-${centre.id}`).click()
    const rec = gw.gateway.registry.get(centre.id)
    expect(Number(await b.page.getByTestId('case-lat').inputValue())).toBeCloseTo(rec?.lat ?? 0, 5)
    expect(Number(await b.page.getByTestId('case-lon').inputValue())).toBeCloseTo(rec?.lon ?? 0, 5)
    await b.page.getByTestId('case-radiusM').fill('100')
    // map-9-06 sits in the grid's middle row: 05 and 07 beside it (78 m), 02 and 10 above and below
    // (89 m); the diagonals are 118 m off.
    await expect.poll(() => summary.getAttribute('data-devices'), { timeout: UI_TIMEOUT }).toBe('5')
    expect(await map.locator('path.pick-circle').count()).toBe(1)
    await b.screenshot('case-map-radius-en')

    // Units: each click ticks one, a second click unticks it.
    await b.page.getByTestId('case-kind').selectOption('devices')
    const ids = b.page.getByTestId('case-ids')
    await zoomToUnit(b.page, 'case-map', units[6]?.id ?? '', 12)
    await map.getByTestId(`map-unit-${centre.id}`).click()
    await map.getByTestId(`map-unit-${units[6]?.id}`).click()
    expect(await ids.inputValue()).toBe(`${centre.id}, ${units[6]?.id}`)
    await map.getByTestId(`map-unit-${centre.id}`).click()
    expect(await ids.inputValue()).toBe(units[6]?.id)
    expect(await b.page.getByTestId('case-map-ticked').getAttribute('data-count')).toBe('1')
    expect(await map.getByTestId(`map-unit-${units[6]?.id}`).getAttribute('data-ticked')).toBe('true')
    await expect.poll(() => summary.getAttribute('data-devices'), { timeout: UI_TIMEOUT }).toBe('1')
    expect(b.errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([])
  })

  it('puts the units over tiles when a tile source is configured', async () => {
    const b = await launchBrowser()
    try {
      await signIn(b, tiled.gateway.httpUrl, tiled.adminToken)
      await b.page.goto(`${tiled.gateway.httpUrl}/#/map`)
      const map = b.page.getByTestId('unit-map')
      await b.page.locator(`[data-testid=unit-map][data-units="${TOTAL}"]`).waitFor({ timeout: UI_TIMEOUT })
      expect(await map.getAttribute('data-tiles')).toBe('on')
      await expect
        .poll(() => map.locator('img.leaflet-tile-loaded').count(), { timeout: UI_TIMEOUT })
        .toBeGreaterThan(0)
      expect(tiles.requests.length).toBeGreaterThan(0)
      expect(tiles.requests.every((u) => /^\/1[2-7]\/\d+\/\d+\.png$/.test(u))).toBe(true)
      expect(await b.page.locator('.leaflet-control-attribution').textContent()).toBe('Loopback test tiles')
      expect(await b.page.getByTestId('map-plain').count()).toBe(0)
      expect(await map.getByTestId('map-cluster').count()).toBeGreaterThan(0)
      await b.screenshot('map-tiles-en')
      expect(b.errors).toEqual([])
    } finally {
      await b.close()
    }
  })

  it('speaks Chinese', async () => {
    zh = await launchBrowser({ locale: 'zh-CN' })
    await signIn(zh, gw.gateway.httpUrl, token)
    await zh.page.getByTestId('nav-map').click()
    await zh.page.locator(`[data-testid=unit-map][data-units="${TOTAL}"]`).waitFor({ timeout: UI_TIMEOUT })
    await zh.page.getByTestId('unit-map').getByTestId('map-cluster').first().waitFor({ timeout: UI_TIMEOUT })
    expect(await zh.page.locator('main h1').first().textContent()).toBe(zhText('map.title'))
    expect(await zh.page.getByTestId('map-district-9').textContent()).toBe('第9警区')
    const text = await zh.page.evaluate(
      // biome-ignore lint/performance/useDomNodeTextContent: the text a reader sees, without hidden nodes' text
      () => document.querySelector<HTMLElement>('main#main')?.innerText ?? '',
    )
    const english = (text.replace(/[0-9]+/g, ' ').match(/[A-Za-z]{2,}/g) ?? []).filter((w) => !ALLOWED.has(w))
    expect(english).toEqual([])
    expect(await zh.page.locator('.leaflet-control-zoom-in').getAttribute('title')).toBe(
      zhText('map.zoom.in'),
    )
    await zh.screenshot('map-zh')
    await zh.page.goto(`${gw.gateway.httpUrl}/#/cases/new`)
    await zh.page.getByTestId('case-kind').selectOption('district')
    await zh.page.locator(`[data-testid=case-map][data-units="${TOTAL}"]`).waitFor({ timeout: UI_TIMEOUT })
    expect(await zh.page.getByTestId('case-map-hint').textContent()).toBe(zhText('map.pick.district'))
    await zh.page.getByTestId('case-map').getByTestId('map-district-9').click()
    await zh.screenshot('case-map-district-zh')
    await zh.page
      .locator('[data-testid=case-preview-summary][data-devices="12"]')
      .waitFor({ timeout: UI_TIMEOUT })
    await zh.screenshot('case-map-district-zh')
    expect(zh.errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([])
  })
})
