import type { Locale } from './locales.js'

/**
 * How times, durations, counts and sizes are written, for one locale, with the platform's `Intl`: one
 * place, so every view says them the same way ("12 min" / "12分钟", "3 Dec 14:05" / "12月3日 14:05").
 */
export class Formats {
  readonly locale: Locale
  readonly #time: Intl.DateTimeFormat
  readonly #dateTime: Intl.DateTimeFormat
  readonly #date: Intl.DateTimeFormat
  readonly #number: Intl.NumberFormat
  readonly #decimal: Intl.NumberFormat
  readonly #percent: Intl.NumberFormat
  readonly #rel: Intl.RelativeTimeFormat
  readonly #units = new Map<string, Intl.NumberFormat>()
  readonly #list: Intl.ListFormat

  constructor(locale: Locale) {
    this.locale = locale
    this.#time = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    this.#dateTime = new Intl.DateTimeFormat(locale, {
      year: 'numeric',
      month: 'short',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    this.#date = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'short', day: '2-digit' })
    this.#number = new Intl.NumberFormat(locale)
    this.#decimal = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 })
    this.#percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 })
    this.#rel = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
    this.#list = new Intl.ListFormat(locale, { type: 'conjunction' })
  }

  #unit(unit: string, n: number, digits = 0): string {
    const key = `${unit}/${digits}`
    let f = this.#units.get(key)
    if (!f) {
      f = new Intl.NumberFormat(this.locale, {
        style: 'unit',
        unit,
        unitDisplay: 'short',
        maximumFractionDigits: digits,
        minimumFractionDigits: digits,
      })
      this.#units.set(key, f)
    }
    return f.format(n)
  }

  number(n: number): string {
    return Number.isFinite(n) ? this.#number.format(n) : '–'
  }

  /** A duration as people say it: "45 s", "12 min", "3 h 20 min", "2 d 4 h" (in the locale's words). */
  duration(ms: number): string {
    const s = Math.max(0, Math.floor(ms / 1000))
    if (s < 60) return this.#unit('second', s)
    const m = Math.floor(s / 60)
    if (m < 60) return this.#unit('minute', m)
    const h = Math.floor(m / 60)
    if (h < 24)
      return m % 60 === 0
        ? this.#unit('hour', h)
        : this.#pair(this.#unit('hour', h), this.#unit('minute', m % 60))
    const d = Math.floor(h / 24)
    return h % 24 === 0 ? this.#unit('day', d) : this.#pair(this.#unit('day', d), this.#unit('hour', h % 24))
  }

  #pair(a: string, b: string): string {
    // Chinese writes compound durations without a space ("3小时20分钟").
    return this.locale === 'zh-CN' ? `${a}${b}` : `${a} ${b}`
  }

  /** "12 min ago" / "12分钟前"; `null` is a unit never heard from. */
  ago(at: number | null, now: number, never: string): string {
    if (at === null) return never
    const ms = now - at
    if (ms < 5000) return this.#rel.format(0, 'second')
    const s = Math.floor(ms / 1000)
    if (s < 60) return this.#rel.format(-s, 'second')
    const m = Math.floor(s / 60)
    if (m < 60) return this.#rel.format(-m, 'minute')
    const h = Math.floor(m / 60)
    if (h < 24) return this.#rel.format(-h, 'hour')
    return this.#rel.format(-Math.floor(h / 24), 'day')
  }

  /** Clock time for today's items, date and time for older ones. */
  time(at: number, now: number = Date.now()): string {
    const sameDay = new Date(at).toDateString() === new Date(now).toDateString()
    return sameDay ? this.#time.format(at) : this.#dateTime.format(at)
  }

  dateTime(at: number): string {
    return this.#dateTime.format(at)
  }

  date(at: number): string {
    return this.#date.format(at)
  }

  /** Storage in MiB as the units report it: "812 MiB", "28.4 GiB" (binary units are not localised). */
  mib(mib: number): string {
    if (!Number.isFinite(mib)) return '–'
    return mib >= 1024
      ? `${this.#decimal.format(mib / 1024)} GiB`
      : `${this.#number.format(Math.round(mib))} MiB`
  }

  bytes(bytes: number): string {
    if (!Number.isFinite(bytes)) return '–'
    if (bytes < 1024) return `${this.#number.format(bytes)} B`
    if (bytes < 1024 ** 2) return `${this.#decimal.format(bytes / 1024)} KiB`
    if (bytes < 1024 ** 3) return `${this.#decimal.format(bytes / 1024 ** 2)} MiB`
    return `${this.#decimal.format(bytes / 1024 ** 3)} GiB`
  }

  pct(part: number, whole: number): string {
    if (!(whole > 0)) return '–'
    return this.#percent.format(part / whole)
  }

  list(items: readonly string[]): string {
    return this.#list.format(items)
  }
}
