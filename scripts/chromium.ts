import { type Browser, chromium } from 'playwright-core'

/** Debian's chromium: the machines have no internet, so no browser is ever downloaded. */
export const CHROMIUM = process.env.DOORSTEP_CHROMIUM ?? '/usr/bin/chromium'

/** Headless, and quiet: nothing reaches out to the network on its own. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]

/** Launches the system chromium the way the browser tests and the paint bench both drive it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS })
}
