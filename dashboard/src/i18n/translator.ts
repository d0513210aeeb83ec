import { IntlMessageFormat } from 'intl-messageformat'
import { Store } from '../lib/store.js'
import { CATALOGUE, type MessageKey } from './catalogue.js'
import { Formats } from './formats.js'
import { isLocale, type Locale, pickLocale } from './locales.js'

export type MessageValues = Record<string, string | number | Date>

/** Where the reader's choice of language is kept; the browser's languages decide until they choose. */
export interface LocaleHost {
  languages: readonly string[]
  load(): string | null
  save(locale: Locale): void
  /** `<html lang>`: screen readers pronounce by it and the browser picks CJK fonts by it. */
  setDocumentLang(locale: Locale): void
}

const STORAGE_KEY = 'doorstep.locale'

export function browserLocaleHost(): LocaleHost {
  return {
    languages: navigator.languages?.length ? navigator.languages : [navigator.language],
    load: () => {
      try {
        return localStorage.getItem(STORAGE_KEY)
      } catch {
        return null
      }
    },
    save: (l) => {
      try {
        localStorage.setItem(STORAGE_KEY, l)
      } catch {
        // Private mode: the choice lasts for this page only.
      }
    },
    setDocumentLang: (l) => {
      document.documentElement.lang = l
    },
  }
}

/** The messages and formats of one locale. Built once per locale and kept: formatters are not cheap. */
export class Translator {
  readonly locale: Locale
  readonly fmt: Formats
  readonly #compiled = new Map<string, IntlMessageFormat>()

  constructor(locale: Locale) {
    this.locale = locale
    this.fmt = new Formats(locale)
  }

  /** The message for `key` with `values` put in. A key missing at run time shows as itself, never blank. */
  t = (key: MessageKey, values?: MessageValues): string => {
    let m = this.#compiled.get(key)
    if (!m) {
      const source = messageSource(this.locale, key)
      if (source === undefined) return key
      m = new IntlMessageFormat(source, this.locale)
      this.#compiled.set(key, m)
    }
    const out = m.format(values)
    return typeof out === 'string' ? out : String(out)
  }
}

export function messageSource(locale: Locale, key: string): string | undefined {
  const dot = key.indexOf('.')
  const room = (CATALOGUE as Record<string, { en: Record<string, string>; 'zh-CN': Record<string, string> }>)[
    key.slice(0, dot)
  ]
  return room?.[locale][key.slice(dot + 1)]
}

/** The dashboard's language: chosen in the header, remembered, announced to the document. */
export class I18n {
  readonly store: Store<Translator>
  readonly #host: LocaleHost
  readonly #built = new Map<Locale, Translator>()

  constructor(host: LocaleHost) {
    this.#host = host
    const saved = host.load()
    const locale = isLocale(saved) ? saved : pickLocale(host.languages)
    this.store = new Store(this.#translator(locale))
    host.setDocumentLang(locale)
  }

  get current(): Translator {
    return this.store.get()
  }

  choose(locale: Locale): void {
    this.#host.save(locale)
    this.#host.setDocumentLang(locale)
    this.store.set(this.#translator(locale))
  }

  #translator(locale: Locale): Translator {
    let t = this.#built.get(locale)
    if (!t) {
      t = new Translator(locale)
      this.#built.set(locale, t)
    }
    return t
  }
}
