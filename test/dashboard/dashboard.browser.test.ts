import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { DeviceCredentials, DeviceView } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * The dashboard in a real Chromium against a real gateway (in-process, real
 * influxd), driven by a real MQTT unit. Screenshots land in test-results/ as
 * artefacts. The build must exist: `npm test` builds it first; alone, run
 * `npm run build -w dashboard`.
 */

const DISTRICT = 23
const FLEET = 2896
const STATES = ['online', 'online', 'online', 'online', 'stale', 'offline', 'unknown'] as const

/** A plausible DeviceView for unit `i` of a synthetic fleet. */
function fakeView(i: number): DeviceView {
  const state = STATES[i % STATES.length] ?? 'online'
  const seen = state === 'unknown' ? null : Date.now() - (i % 600) * 1000
  return {
    id: `fleet-${String(i).padStart(4, '0')}`,
    serial: `SN-F${i}`,
    district: (i % 61) + 1,
    address: `${(i % 300) + 1} Fleet Road`,
    ownerContact: `owner${i}@example.org`,
    lat: 29.3,
    lon: 117.2,
    model: 'DS-C3W',
    firmware: '2.4.1',
    setting: 'urban',
    releasePolicy: 'ask',
    enabled: true,
    createdAt: Date.now() - 86_400_000,
    state,
    lastSeen: seen,
    lastHeartbeat:
      seen === null
        ? null
        : {
            v: 1,
            ts: seen,
            uptimeS: 3600,
            storageFreeMb: (i * 97) % 60_000,
            storageTotalMb: 65_536,
            recording: true,
            signalDbm: -60,
            temperatureC: 35,
          },
  }
}
const UI_TIMEOUT = 15_000
/*
 * Console errors the browser itself prints for failures the UI handles: 404 from
 * features the gateway does not serve yet (events, thumbnails), the 401 of the
 * wrong-token test, and refused connections while the gateway restarts.
 */
const EXPECTED_CONSOLE =
  /Failed to load resource: (the server responded with a status of (401|404)|net::ERR_CONNECTION_REFUSED)|WebSocket connection to .* failed/

describe('dashboard in a browser', () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  const data = tempDir('doorstep-dash-')
  let gw: TestGateway
  let tb: TestBrowser
  let unit: DeviceCredentials
  let client: MqttClient | null = null
  let personEventId = ''

  const page = () => tb.page
  const testId = (id: string) => page().getByTestId(id)

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({ DOORSTEP_ADMIN_TOKEN: token, DOORSTEP_DATA_DIR: data.dir })
    unit = await gw.gateway.registry.create(deviceRow({ district: DISTRICT, address: '4 Larch Lane' }))
    tb = await launchBrowser({ width: 1440, height: 900 })
  })

  afterAll(async () => {
    if (client) await end(client)
    await tb?.close()
    await gw?.stop()
    data.cleanup()
  })

  it('refuses a wrong token with the gateway message', async () => {
    await signIn(page(), 'not-a-real-token-at-all', gw.gateway.httpUrl)
    await expect.poll(() => testId('signin-error').textContent(), { timeout: UI_TIMEOUT }).toContain('token')
    await tb.screenshot('dashboard-01-signin-refused')
  })

  it('shows the evidence key fingerprint before sign-in (the keys route is public)', async () => {
    await expect
      .poll(() => testId('evidence-fingerprint').textContent(), { timeout: UI_TIMEOUT })
      .toBe(gw.gateway.evidenceKeys.fingerprint)
  })

  it('signs in and goes live', async () => {
    await signIn(page(), token)
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })
    expect(await testId('conn-state').textContent()).toContain('Live')
    // The token never shows in the address bar.
    expect(page().url()).not.toContain(token)
  })

  it('shows a live alert from a unit and its district online', async () => {
    client = await connectUnit(gw.gateway.mqttUrl, unit.id, unit.secret)
    await publish(client, `cam/${unit.id}/heartbeat`, heartbeat({ batteryPct: 77 }), 0)
    const ev = event({ kind: 'person', score: 0.9 })
    personEventId = ev.eventId
    await publish(client, `cam/${unit.id}/event`, ev, 1)

    const alert = page().locator(`[data-testid=alert][data-kind=person][data-device-id="${unit.id}"]`)
    await alert.waitFor({ timeout: UI_TIMEOUT })
    expect(await alert.getAttribute('data-event-id')).toBe(personEventId)
    expect(await alert.textContent()).toContain('Person')
    // The unit's connect raised an `online` alert too, which refreshed fleet health.
    await page().locator(`[data-testid=alert][data-kind=online][data-device-id="${unit.id}"]`).waitFor()

    const tile = page().locator(`[data-testid=district-${DISTRICT}]`)
    await page()
      .locator(`[data-testid=district-${DISTRICT}][data-online="1"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    expect(await tile.getAttribute('data-total')).toBe('1')
    expect(await tile.textContent()).toContain('1/1')
    expect(await testId('sum-online').textContent()).toContain('1')
    await tb.screenshot('dashboard-02-fleet')
  })

  it('drills into the district and the unit, with heartbeat charts', async () => {
    await page().locator(`[data-testid=district-${DISTRICT}]`).click()
    await expect.poll(() => testId('devices-title').textContent()).toBe(`District ${DISTRICT}`)
    const row = page().locator(`[data-testid=device-row][data-device-id="${unit.id}"]`)
    await row.waitFor({ timeout: UI_TIMEOUT })
    expect(await row.getAttribute('data-state')).toBe('online')
    await tb.screenshot('dashboard-03-district')

    await row.click()
    await testId('device-page').waitFor()
    await expect.poll(() => page().url()).toContain(`#/device/${unit.id}`)
    await page().locator('[data-testid=chart-storage] canvas').first().waitFor({ timeout: UI_TIMEOUT })
    for (const chart of ['chart-signal', 'chart-temperature', 'chart-battery']) {
      await page().locator(`[data-testid=${chart}] canvas`).first().waitFor()
    }
    expect(await testId('presence').textContent()).toContain('Online')
    // The heartbeat reaches the chart once ingest has written it to InfluxDB (flushed every 50 ms here).
    await expect
      .poll(
        async () => {
          await page().getByTestId('range-1h').click()
          return Number(await testId('charts').getAttribute('data-points'))
        },
        { timeout: UI_TIMEOUT, interval: 1000 },
      )
      .toBeGreaterThanOrEqual(1)
    await tb.screenshot('dashboard-04-device')
  })

  it('opens an alert as its event details', async () => {
    await page().locator(`[data-testid=alert][data-event-id="${personEventId}"] a`).first().click()
    await testId('event-page').waitFor()
    await expect.poll(() => page().url()).toContain(`#/event/${personEventId}`)
    await testId('event-details').waitFor({ timeout: UI_TIMEOUT })
    // A detection that only started has no clip yet.
    expect(await testId('clip-state').getAttribute('data-state')).toBe('none')
    expect(await testId('event-details').textContent()).toContain(unit.id)
    await tb.screenshot('dashboard-05-event')
  })

  it('plays an uploaded clip in a seekable <video>, and shows its thumbnail in the feed', async () => {
    if (!client) throw new Error('the unit is not connected')
    const clip = makeClip(data.dir, 'porch', { seconds: 4 })
    // Not 'person': a second one from this unit within 30 s would be folded, and its alert held back.
    const eventId = await announce(client, unit.id, clipInfo(clip), { kind: 'sound', score: 0.95 })
    const put = await putClip(gw.gateway.httpUrl, eventId, basic(unit.id, unit.secret), clip.buf)
    expect(put.ok).toBe(true)

    await page().locator(`[data-testid=alert][data-event-id="${eventId}"] a`).first().click()
    const video = page().locator('[data-testid=clip-video]')
    await video.waitFor({ timeout: UI_TIMEOUT })
    // Metadata means the browser fetched the file's head through the Range route.
    await expect
      .poll(() => video.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: UI_TIMEOUT })
      .toBeGreaterThanOrEqual(1)
    const duration = await video.evaluate((v: HTMLVideoElement) => v.duration)
    expect(duration).toBeGreaterThan(3.5)
    expect(duration).toBeLessThan(4.5)
    const seekableEnd = await video.evaluate((v: HTMLVideoElement) =>
      v.seekable.length > 0 ? v.seekable.end(v.seekable.length - 1) : 0,
    )
    expect(seekableEnd).toBeGreaterThan(3.5)
    const landed = await video.evaluate(
      (v: HTMLVideoElement) =>
        new Promise<number>((resolve) => {
          v.addEventListener('seeked', () => resolve(v.currentTime), { once: true })
          v.currentTime = 3
        }),
    )
    expect(landed).toBeCloseTo(3, 0)
    expect(await testId('clip-state').getAttribute('data-state')).toBe('ready')
    await tb.screenshot('dashboard-06-clip')

    // The gateway says on the alert socket when the thumbnail is made; the feed row shows it then, with
    // no polling (which took up to 10 s) in between.
    const thumb = page().locator(`[data-testid=alert][data-event-id="${eventId}"] img[data-testid=thumb]`)
    await expect
      .poll(
        () => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth).catch(() => 0),
        { timeout: UI_TIMEOUT },
      )
      .toBeGreaterThan(0)
    await tb.screenshot('dashboard-07-feed-thumbnail')
  }, 90_000)

  it('lists offline units after the unit drops off', async () => {
    if (client) await end(client)
    client = null
    await page().goto(`${gw.gateway.httpUrl}/#/offline`)
    const row = page().locator(`[data-testid=offline-row][data-device-id="${unit.id}"]`)
    await row.waitFor({ timeout: UI_TIMEOUT })
    await tb.screenshot('dashboard-08-offline')
  })

  it('rides out a gateway restart: reconnecting, then live again with new alerts', async () => {
    const port = new URL(gw.gateway.httpUrl).port
    await gw.stop({ keepData: true })
    await page().locator('[data-testid=conn-state][data-state=waiting]').waitFor({ timeout: UI_TIMEOUT })
    expect(await testId('conn-state').textContent()).toMatch(/Reconnecting in \d+ s/)
    await tb.screenshot('dashboard-09-reconnecting')

    gw = await startTestGateway({
      DOORSTEP_ADMIN_TOKEN: token,
      DOORSTEP_DATA_DIR: data.dir,
      DOORSTEP_HTTP_PORT: port,
    })
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: 40_000 })
    await page().locator('[data-testid=notice]', { hasText: 'restarted' }).waitFor({ timeout: UI_TIMEOUT })

    // Alert ids restart at 1 with the gateway: the new alerts must not be taken for ones already seen.
    client = await connectUnit(gw.gateway.mqttUrl, unit.id, unit.secret)
    const ev = event({ kind: 'vehicle', score: 0.7 })
    await publish(client, `cam/${unit.id}/event`, ev, 1)
    await page()
      .locator(`[data-testid=alert][data-event-id="${ev.eventId}"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    // The unit is back: the offline list, refetched when fleet health moves, lets it go.
    await page()
      .locator(`[data-testid=offline-row][data-device-id="${unit.id}"]`)
      .waitFor({ state: 'detached', timeout: UI_TIMEOUT })
    // The alerts from before the restart are still listed.
    expect(await page().locator(`[data-testid=alert][data-event-id="${personEventId}"]`).count()).toBe(1)
    await tb.screenshot('dashboard-10-after-restart')
  }, 90_000)

  it('keeps a 2,896-unit list virtualised', async () => {
    // The whole fleet's list, served to the page directly: provisioning 2,896 real units costs
    // half a minute of scrypt and tests the registry, not the list.
    const devices = Array.from({ length: FLEET }, (_, i) => fakeView(i))
    const isAllUnits = (url: URL) => url.pathname === '/api/v1/devices' && !url.searchParams.has('district')
    await page().route(isAllUnits, (route) => route.fulfill({ json: { total: FLEET, devices } }))
    try {
      await page().goto(`${gw.gateway.httpUrl}/#/devices`)
      await page()
        .locator(`[data-testid=device-list][data-count="${FLEET}"]`)
        .waitFor({ timeout: UI_TIMEOUT })
      const rendered = await page().locator('[data-testid=device-row]').count()
      expect(rendered).toBeGreaterThan(5)
      expect(rendered).toBeLessThan(80)
      // Scroll to the end: the last row is rendered, and still only a window of rows.
      await testId('device-list')
        .locator('.vlist-scroller')
        .evaluate((el) => {
          el.scrollTop = el.scrollHeight
        })
      // Rows carry their place in the whole list (aria-rowindex; the header is row 1).
      await page()
        .locator(`.vrow[aria-rowindex="${FLEET + 1}"]`)
        .waitFor({ timeout: UI_TIMEOUT })
      expect(await page().locator('[data-testid=device-row]').count()).toBeLessThan(80)
      await tb.screenshot('dashboard-11-all-units')
    } finally {
      await page().unroute(isAllUnits)
    }
  })

  it('signs in from a #token= link, strips it, and signs out', async () => {
    await testId('sign-out').click()
    await testId('signin-form').waitFor()
    expect(await page().evaluate(() => sessionStorage.length)).toBe(0)

    await page().goto(`${gw.gateway.httpUrl}/#token=${token}`)
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })
    expect(page().url()).not.toContain(token)
    await testId('sign-out').click()
    await testId('signin-form').waitFor()
  })

  it('ran without page errors', () => {
    const unexpected = tb.errors.filter((e) => !EXPECTED_CONSOLE.test(e))
    expect(unexpected).toEqual([])
  })
})
