import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { DeviceCredentials } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { events } from '../../dashboard/src/i18n/messages/events.js'
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
 * The events room in Chinese: the events view, an event page with its clip and the live alert feed say
 * everything in the catalogue's Chinese, with no English word left over from a hard-coded string, and
 * the header's language switch turns them back into English.
 */

const UI_TIMEOUT = 15_000
const zh = events['zh-CN']
const en = events.en

/** Words that are names or units in either language, not untranslated text. */
const ALLOWED = new Set(['Doorstep', 'MiB', 'GiB', 'KiB', 'ID', 'MQTT'])

/** The English words left in a text once ids, numbers and allowed names are taken out. */
function englishWords(text: string, ids: readonly string[]): string[] {
  let rest = text
  for (const id of ids) rest = rest.split(id).join(' ')
  rest = rest
    .replace(/cam-[\w-]+/g, ' ')
    .replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/gi, ' ')
    .replace(/\b[0-9a-f]{8}\b/gi, ' ')
    .replace(/\d+/g, ' ')
  return (rest.match(/[A-Za-z]{2,}/g) ?? []).filter((w) => !ALLOWED.has(w))
}

describe('events, event pages and the alert feed in Chinese', () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  const data = tempDir('doorstep-events-i18n-')
  let gw: TestGateway
  let tb: TestBrowser
  let unit: DeviceCredentials
  let client: MqttClient
  let motionId = ''
  let clipId = ''
  /** Responses of 400 and above; a thumbnail asked for before the media queue made it is the one allowed. */
  const failures: string[] = []

  const page = () => tb.page
  const ids = () => [unit.id, motionId, clipId]
  // biome-ignore lint/performance/useDomNodeTextContent: the test asks what a reader sees, which textContent is not (it includes hidden text).
  const textOf = (selector: string) => page().locator(selector).first().innerText()

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({ DOORSTEP_ADMIN_TOKEN: token, DOORSTEP_DATA_DIR: data.dir })
    // A Chinese address, as the units in the field have: it is data, shown as entered.
    unit = await gw.gateway.registry.create(deviceRow({ district: 12, address: '桦树路2号' }))
    tb = await launchBrowser({ width: 1440, height: 900, locale: 'zh-CN' })
    tb.page.on('response', (res) => {
      if (res.status() >= 400) failures.push(redact(`${res.status()} ${res.url()}`))
    })
    client = await connectUnit(gw.gateway.mqttUrl, unit.id, unit.secret)
  })

  afterAll(async () => {
    if (client) await end(client)
    await tb?.close()
    await gw?.stop()
    data.cleanup()
  })

  it('lists a motion event and an event with a clip in Chinese', async () => {
    await page().goto(`${gw.gateway.httpUrl}/#token=${token}`)
    await page().locator('[data-testid=conn-state][data-state=connected]').waitFor({ timeout: UI_TIMEOUT })

    const motion = event({ kind: 'motion', score: 0.82 })
    motionId = motion.eventId
    await publish(client, `cam/${unit.id}/event`, motion, 1)
    const clip = makeClip(data.dir, 'porch', { seconds: 2 })
    clipId = await announce(client, unit.id, clipInfo(clip), { kind: 'person', score: 0.93 })
    const put = await putClip(gw.gateway.httpUrl, clipId, basic(unit.id, unit.secret), clip.buf)
    expect(put.ok).toBe(true)

    for (const id of [motionId, clipId]) {
      await page()
        .locator(`aside [data-testid=alert][data-event-id="${id}"]`)
        .first()
        .waitFor({ timeout: UI_TIMEOUT })
    }

    await page().goto(`${gw.gateway.httpUrl}/#/events`)
    for (const id of [motionId, clipId]) {
      await page().locator(`[data-testid=event-card][data-event-id="${id}"]`).waitFor({ timeout: UI_TIMEOUT })
    }
    await page()
      .locator(`[data-testid=event-card][data-event-id="${clipId}"][data-clip=ready]`)
      .waitFor({ timeout: UI_TIMEOUT })
      .catch(async () => {
        // The index may list the event before its clip settles: a reload shows the settled state.
        await page().reload()
        await page()
          .locator(`[data-testid=event-card][data-event-id="${clipId}"][data-clip=ready]`)
          .waitFor({ timeout: UI_TIMEOUT })
      })

    expect(await page().locator('#events-title').textContent()).toBe(zh.title)
    expect(await page().locator('aside #feed-title').textContent()).toBe(zh['alert.title'])
    const card = await textOf(`[data-testid=event-card][data-event-id="${motionId}"]`)
    expect(card).toContain(zh['kind.motion'])

    const main = await textOf('main')
    const aside = await textOf('aside')
    expect(main).toContain(zh['kind.person'])
    expect(aside).toContain(zh['kind.motion'])
    expect(englishWords(main, ids()), main).toEqual([])
    expect(englishWords(aside, ids()), aside).toEqual([])
    await tb.screenshot('i18n-zh-events')
  })

  it('shows an event page with its clip in Chinese', async () => {
    await page().goto(`${gw.gateway.httpUrl}/#/event/${clipId}`)
    await page().locator('[data-testid=event-details]').waitFor({ timeout: UI_TIMEOUT })
    await page().locator('[data-testid=clip-state][data-state=ready]').waitFor({ timeout: UI_TIMEOUT })
    await page().locator('[data-testid=clip-video]').waitFor({ timeout: UI_TIMEOUT })

    expect(await page().locator('#event-title').textContent()).toBe(`事件 ${clipId.slice(0, 8)}`)
    const details = await textOf('[data-testid=event-details]')
    expect(details).toContain(zh['fact.started'])
    expect(details).toContain(zh['kind.person'])
    expect(await page().locator('[data-testid=clip-state]').textContent()).toBe(zh['clip.state.ready'])

    const main = await textOf('main')
    const aside = await textOf('aside')
    expect(englishWords(main, ids()), main).toEqual([])
    expect(englishWords(aside, ids()), aside).toEqual([])
    await tb.screenshot('i18n-zh-event')
  })

  it('shows the live alert page in Chinese', async () => {
    await page().setViewportSize({ width: 390, height: 844 })
    await page().goto(`${gw.gateway.httpUrl}/#/alerts`)
    await page().reload()
    await page()
      .locator(`main [data-testid=alert][data-event-id="${motionId}"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    expect(await page().locator('main #feed-title').textContent()).toBe(zh['alert.title'])
    const main = await textOf('main')
    expect(main).toContain(zh['alert.text.motion'])
    expect(englishWords(main, ids()), main).toEqual([])
    await tb.screenshot('i18n-zh-alerts')
    await page().setViewportSize({ width: 1440, height: 900 })
  })

  it('turns back into English with the language switch', async () => {
    await page().goto(`${gw.gateway.httpUrl}/#/events`)
    await page().locator('#events-title').waitFor({ timeout: UI_TIMEOUT })
    await page().locator('[data-testid=language]').first().selectOption('en')
    await expect
      .poll(() => page().locator('#events-title').textContent(), { timeout: UI_TIMEOUT })
      .toBe(en.title)
    expect(await page().locator('aside #feed-title').textContent()).toBe(en['alert.title'])
    await page()
      .locator(`[data-testid=event-card][data-event-id="${motionId}"]`)
      .waitFor({ timeout: UI_TIMEOUT })
    expect(await textOf(`[data-testid=event-card][data-event-id="${motionId}"]`)).toContain(en['kind.motion'])
    await tb.screenshot('i18n-en-events')
    const thumbMisses = failures.filter((f) => /^404 .*\/clips\/[^/]+\/thumb/.test(f))
    expect(failures.filter((f) => !thumbMisses.includes(f))).toEqual([])
    // The console names no URL for a failed load: its 404 lines are counted against the thumbnail misses.
    expect(tb.errors.filter((e) => /status of 404/.test(e)).length).toBe(thumbMisses.length)
    expect(tb.errors.filter((e) => !/status of 404/.test(e))).toEqual([])
  })
})
