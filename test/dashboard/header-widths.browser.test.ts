import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'

/*
 * The header between phone and desktop: an admin has nine links; where they do not fit in one row
 * The header between phone and desktop: an admin has ten links; where they do not fit in one row
 * (in English or in Chinese) the header shows the menu instead, and never a bar that scrolls sideways
 * or clips "Sign out". Widening the window brings the full bar back.
 */

const UI_TIMEOUT = 15_000
const ADMIN_LINKS = [
  'fleet',
  'map',
  'offline',
  'events',
  'cases',
  'admin-people',
  'admin-units',
  'admin-audit',
  'ops',
]

describe('the header at every width', { timeout: 90_000 }, () => {
  const token = `adm_${randomBytes(16).toString('hex')}`
  let gw: TestGateway
  const browsers: TestBrowser[] = []

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway({ DOORSTEP_ADMIN_TOKEN: token })
  })
  afterAll(async () => {
    for (const b of browsers) await b.close()
    await gw?.stop()
  })

  /** The bar's layout once it has settled: which header, and whether anything spills out of it. */
  async function layout(b: TestBrowser): Promise<{ compact: boolean; spills: boolean; links: string[] }> {
    await b.page.waitForTimeout(150)
    return b.page.evaluate(() => {
      const bar = document.querySelector<HTMLElement>('header.topbar')
      if (!bar) throw new Error('no header')
      const right = bar.getBoundingClientRect().right
      const spills =
        bar.scrollWidth > bar.clientWidth ||
        [...bar.querySelectorAll<HTMLElement>('a, button, select')].some(
          (el) => el.offsetParent !== null && el.getBoundingClientRect().right > right + 0.5,
        )
      return {
        compact: bar.classList.contains('compact'),
        spills,
        links: [...bar.querySelectorAll<HTMLElement>('[data-testid^=nav-]')].map(
          (a) => a.dataset.testid?.slice(4) ?? '',
        ),
      }
    })
  }

  for (const locale of ['en', 'zh-CN'] as const) {
    it(`${locale}: full bar where it fits, the menu where it does not, nothing spilling`, async () => {
      const b = await launchBrowser({ locale, width: 1440, height: 900 })
      browsers.push(b)
      await signIn(b.page, token, gw.gateway.httpUrl)
      await b.page.getByTestId('nav-map').first().waitFor({ state: 'attached', timeout: UI_TIMEOUT })
      const wide = await layout(b)
      expect(wide).toEqual({ compact: false, spills: false, links: ADMIN_LINKS })

      const seen: boolean[] = []
      for (const width of [1280, 1100, 1024, 900, 800]) {
        await b.page.setViewportSize({ width, height: 800 })
        const l = await layout(b)
        expect(l.spills, `${locale} at ${width} px`).toBe(false)
        seen.push(l.compact)
        if (l.compact) {
          // Every link is in the menu; "Live alerts" is not, as the feed is still on the page.
          await b.page.getByTestId('menu-button').click()
          expect(l.links).toEqual(ADMIN_LINKS)
          expect(await b.page.getByTestId('sign-out').isVisible()).toBe(true)
          await b.page.getByTestId('menu-button').click()
        } else expect(l.links).toEqual(ADMIN_LINKS)
        await b.screenshot(`header-${locale}-${width}`)
      }
      // At 800 px ten links cannot fit in either language; once compact, narrower stays compact.
      expect(seen.at(-1)).toBe(true)
      expect(seen.slice(seen.indexOf(true)).every((c) => c)).toBe(true)

      await b.page.setViewportSize({ width: 1440, height: 900 })
      await expect.poll(async () => (await layout(b)).compact, { timeout: UI_TIMEOUT }).toBe(false)
      expect(b.errors).toEqual([])
    })
  }
})
