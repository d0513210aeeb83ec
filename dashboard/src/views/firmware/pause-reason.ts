import type { Translator } from '../../i18n/translator.js'

/**
 * The gateway words the pause rule's reason in English (`failure rate 100% (2 of 2 finished) is over
 * 50%`, gateway/src/firmware/campaigns.ts): said in the reader's language here. Anything else is an
 * admin's own note and is shown as written.
 */
const AUTO_PAUSE = /^failure rate ([\d.]+)% \((\d+) of (\d+) finished\) is over ([\d.]+)%$/

export function pauseReasonText(reason: string, t: Translator['t']): string {
  const m = AUTO_PAUSE.exec(reason)
  if (!m) return reason
  return t('firmware.reason.autoPause', {
    rate: Number(m[1]),
    failed: Number(m[2]),
    finished: Number(m[3]),
    limit: Number(m[4]),
  })
}
