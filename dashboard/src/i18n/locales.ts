/** The languages the dashboard speaks. The first people to use it read Chinese; English is the fallback. */
export const LOCALES = ['zh-CN', 'en'] as const
export type Locale = (typeof LOCALES)[number]

/** How each language names itself in the switch: a reader looks for their own language's name. */
export const LOCALE_NAMES: Record<Locale, string> = { 'zh-CN': '中文', en: 'English' }

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v)
}

/**
 * The first of the browser's languages that we speak: any Chinese (zh, zh-CN, zh-Hans, zh-TW) reads the
 * Simplified catalogue, any English the English one; nothing known falls back to English.
 */
export function pickLocale(languages: readonly string[]): Locale {
  for (const tag of languages) {
    const lang = tag.toLowerCase().split('-')[0]
    if (lang === 'zh') return 'zh-CN'
    if (lang === 'en') return 'en'
  }
  return 'en'
}
