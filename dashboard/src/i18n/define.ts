/**
 * One room's messages in both languages. The Chinese catalogue must have exactly the English one's keys:
 * a missing or extra key is a type error here, and `test/dashboard/i18n-catalogue.test.ts` checks the same
 * at run time together with the ICU arguments each message takes.
 *
 * Messages are ICU MessageFormat (`{count, plural, one {# unit} other {# units}}`, `{name}`), formatted by
 * intl-messageformat with the platform's `Intl` rules for the locale.
 */
export interface RoomMessages<K extends string> {
  en: Readonly<Record<K, string>>
  'zh-CN': Readonly<Record<K, string>>
}

export function defineMessages<const E extends Record<string, string>>(
  en: E,
  zh: { readonly [K in keyof E]: string },
): RoomMessages<Extract<keyof E, string>> {
  return { en, 'zh-CN': zh }
}
