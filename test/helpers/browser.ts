import fs from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { inject } from 'vitest'
import { CHROMIUM, launchChromium } from '../../scripts/chromium.js'

/** Where screenshots go: test-results/ is gitignored and kept by CI as an artefact. */
export const RESULTS_DIR = path.resolve(import.meta.dirname, '../../test-results')

export interface TestBrowser {
  browser: Browser
  context: BrowserContext
  page: Page
  /** Browser console errors and page errors, for asserting a clean run. */
  errors: string[]
  /** Saves a full-viewport PNG as test-results/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>
  close(): Promise<void>
}

/** Chromium prints failing URLs, and media and socket URLs carry `?token=`: never let one reach a log. */
export function redact(text: string): string {
  return text.replace(/([?&#]token=)[^&'"\s]+/g, '$1<redacted>')
}

/**
 * Fills in and sends the sign-in form, after opening `at` when given (else the form must be showing).
 * It waits for nothing: what follows a sign-in, or a refused one, is each test's own to wait for.
 */
export async function signIn(page: Page, token: string, at?: string): Promise<void> {
  if (at !== undefined) await page.goto(at)
  await page.getByTestId('signin-token').fill(token)
  await page.getByTestId('signin-submit').click()
}

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM)
}

/**
 * A headless Chromium with one page. Console errors are collected: a React-
 * style "something threw" in the page would otherwise pass unnoticed.
 */
export async function launchBrowser(
  opts: { width?: number; height?: number; locale?: 'en' | 'zh-CN' } = {},
): Promise<TestBrowser> {
  if (inject('browserGroup') !== true) {
    throw new Error('a test file that drives Chromium must be named *.browser.test.ts, so it runs alone')
  }
  const browser = await launchChromium()
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 1440, height: opts.height ?? 900 },
    colorScheme: 'light',
    // The dashboard picks its language from the browser's: English unless a test asks for Chinese.
    locale: opts.locale ?? 'en-US',
    reducedMotion: 'reduce',
  })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(redact(`pageerror: ${err.message}`)))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(redact(`console: ${msg.text()}`))
  })
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  return {
    browser,
    context,
    page,
    errors,
    async screenshot(name) {
      const file = path.join(RESULTS_DIR, `${name}.png`)
      await page.screenshot({ path: file })
      return file
    },
    async close() {
      await context.close().catch(() => undefined)
      await browser.close()
    },
  }
}
