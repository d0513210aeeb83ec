import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { DeviceCredentials } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { launchBrowser, redact, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * Regression: the feed asked for the thumbnail of every detection alert, and
 * an alert comes when a detection starts, long before any clip: a 404 per
 * alert (and per retry) in the console. Now the dashboard asks only for events
 * the events index lists with a ready clip. Events without a clip (one still
 * going on, one that ended without a clip, one whose announced clip never
 * arrived) must cause no thumbnail request; an event whose clip is uploaded
 * must still get its thumbnail, or the check above would pass by never
 * asking at all.
 */

const UI_TIMEOUT = 15_000
const THUMB_PATH = /\/api\/v1\/clips\/([^/?]+)\/thumb/

describe('thumbnails are asked for only when a clip exists', () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  const data = tempDir('doorstep-thumbs-')
  let gw: TestGateway
  let tb: TestBrowser
  let unit: DeviceCredentials
  let client: MqttClient
  /** Every thumbnail request: the event it was for and how it ended. */
  const thumbRequests: Array<{ eventId: string; status: number | 'failed' }> = []
  /** Responses of 400 and above, and requests that failed, of any kind. */
  const failures: string[] = []
  const noClip: string[] = []
  let withClip = ''

  const page = () => tb.page

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({ DOORSTEP_ADMIN_TOKEN: token, DOORSTEP_DATA_DIR: data.dir })
    unit = await gw.gateway.registry.create(deviceRow({ district: 31, address: '2 Birch Close' }))
    tb = await launchBrowser({ width: 1440, height: 900 })
    page().on('response', (res) => {
      const m = THUMB_PATH.exec(res.url())
      if (m) thumbRequests.push({ eventId: decodeURIComponent(m[1] ?? ''), status: res.status() })
      if (res.status() >= 400) failures.push(redact(`${res.status()} ${res.url()}`))
    })
    page().on('requestfailed', (req) => {
      const m = THUMB_PATH.exec(req.url())
      if (m) thumbRequests.push({ eventId: decodeURIComponent(m[1] ?? ''), status: 'failed' })
      // The tests navigate (goto, reload): the page's requests still in flight then are cancelled by the
      // browser, not failed by the gateway. Any other failure counts.
      if (req.failure()?.errorText === 'net::ERR_ABORTED') return
      failures.push(redact(`failed ${req.url()} ${req.failure()?.errorText ?? ''}`))
    })
    client = await connectUnit(gw.gateway.mqttUrl, unit.id, unit.secret)
  })

  afterAll(async () => {
    if (client) await end(client)
    await tb?.close()
    await gw?.stop()
    data.cleanup()
  })

  it('shows events without a clip in the feed and the events view with no thumbnail request', async () => {
    await page().goto(`${gw.gateway.httpUrl}/#token=${token}`)
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })

    // Still going on (no clip yet), ended without a clip, and a clip announced that never came. One
    // kind each: repeats of a kind from one unit within 30 s are folded into one alert.
    const started = event({ kind: 'person', score: 0.91 })
    await publish(client, `cam/${unit.id}/event`, started, 1)
    noClip.push(started.eventId)
    noClip.push(await announce(client, unit.id, undefined, { kind: 'vehicle', score: 0.7 }))
    const never = makeClip(data.dir, 'never-sent', { seconds: 1 })
    noClip.push(await announce(client, unit.id, clipInfo(never), { kind: 'motion', score: 0.8 }))

    for (const id of noClip) {
      await page()
        .locator(`aside [data-testid=alert][data-event-id="${id}"]`)
        .first()
        .waitFor({ timeout: UI_TIMEOUT })
    }
    // The feed has looked these events up in the index (and found no clip) at least once.
    await page().waitForResponse(
      (r) => r.url().includes('/api/v1/events?') && r.url().includes('hasClip=true'),
      {
        timeout: UI_TIMEOUT,
      },
    )

    await page().goto(`${gw.gateway.httpUrl}/#/events`)
    for (const id of noClip) {
      await page().locator(`[data-testid=event-card][data-event-id="${id}"]`).waitFor({ timeout: UI_TIMEOUT })
    }
    const states = await page()
      .locator('[data-testid=event-card]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-clip')))
    expect(states.sort()).toEqual(['none', 'none', 'pending'])
    expect(await page().locator('[data-testid=event-card] img').count()).toBe(0)
    expect(await page().locator('aside [data-testid=thumb]').count()).toBe(0)
    expect(thumbRequests.filter((r) => noClip.includes(r.eventId))).toEqual([])
  })

  it('shows the live-alert page on a phone with no thumbnail request either', async () => {
    await page().setViewportSize({ width: 390, height: 844 })
    // A fresh page load: the feed is backfilled, and it looks the backfilled alerts up in the index.
    const lookedUp = page().waitForResponse((r) => r.url().includes('hasClip=true'), { timeout: UI_TIMEOUT })
    await page().goto(`${gw.gateway.httpUrl}/#/alerts`)
    await page().reload()
    for (const id of noClip) {
      await page().locator(`main [data-testid=alert][data-event-id="${id}"]`).waitFor({ timeout: UI_TIMEOUT })
    }
    await lookedUp
    expect(await page().locator('main [data-testid=thumb]').count()).toBe(0)
    expect(thumbRequests.filter((r) => noClip.includes(r.eventId))).toEqual([])
    await page().setViewportSize({ width: 1440, height: 900 })
  })

  it('still shows the thumbnail of an event whose clip was uploaded', async () => {
    const clip = makeClip(data.dir, 'porch', { seconds: 2 })
    const eventId = await announce(client, unit.id, clipInfo(clip), { kind: 'sound', score: 0.95 })
    withClip = eventId
    const put = await putClip(gw.gateway.httpUrl, eventId, basic(unit.id, unit.secret), clip.buf)
    expect(put.ok).toBe(true)
    await page().goto(`${gw.gateway.httpUrl}/#/events`)
    const thumb = page()
      .locator(`[data-testid=alert][data-event-id="${eventId}"] img[data-testid=thumb]`)
      .first()
    await expect
      .poll(
        () => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth).catch(() => 0),
        { timeout: UI_TIMEOUT, interval: 500 },
      )
      .toBeGreaterThan(0)
    expect(thumbRequests.some((r) => r.eventId === eventId && r.status === 200)).toBe(true)
  }, 60_000)

  it('asked for no thumbnail of an event without a clip, and got no other 404', () => {
    expect(thumbRequests.filter((r) => noClip.includes(r.eventId))).toEqual([])
    // The one allowed miss: the uploaded clip's thumbnail, asked for in the moment between the clip
    // being stored and its thumbnail being made (it follows through the media queue), then retried.
    const controlMisses = thumbRequests.filter((r) => r.eventId === withClip && r.status === 404).length
    const notControl = failures.filter((f) => !f.includes(`/clips/${withClip}/thumb`))
    expect(notControl).toEqual([])
    // The console names no URL for a failed load, so its 404 lines are counted against those misses.
    const console404 = tb.errors.filter((e) => /status of 404/.test(e))
    expect(console404.length).toBe(controlMisses)
    expect(tb.errors.filter((e) => !/status of 404/.test(e))).toEqual([])
  })
})
