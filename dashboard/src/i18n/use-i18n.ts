import { useStore } from '../lib/store.js'
import { useServices } from '../services.js'
import type { Formats } from './formats.js'
import type { Locale } from './locales.js'
import type { Translator } from './translator.js'

export interface I18nView {
  t: Translator['t']
  fmt: Formats
  locale: Locale
}

/** The current language's messages and formats; the calling view re-renders when the reader switches. */
export function useI18n(): I18nView {
  const tr = useStore(useServices().i18n.store)
  return { t: tr.t, fmt: tr.fmt, locale: tr.locale }
}
