import { h, type JSX } from 'preact'
import { isLocale, LOCALE_NAMES, LOCALES } from '../i18n/locales.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useServices } from '../services.js'

/** The language switch in the header (and on the sign-in form): each language named in itself. */
export function LanguageSwitch(): JSX.Element {
  const { i18n } = useServices()
  const { t, locale } = useI18n()
  return h(
    'label',
    { class: 'lang-switch' },
    h('span', { class: 'sr-only' }, t('shell.language')),
    h(
      'select',
      {
        value: locale,
        'data-testid': 'language',
        onChange: (e: Event) => {
          const v = (e.currentTarget as HTMLSelectElement).value
          if (isLocale(v)) i18n.choose(v)
        },
      },
      LOCALES.map((l) => h('option', { value: l, lang: l }, LOCALE_NAMES[l])),
    ),
  )
}
