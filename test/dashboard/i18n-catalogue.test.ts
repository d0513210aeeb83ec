import { type MessageFormatElement, parse, TYPE } from '@formatjs/icu-messageformat-parser'
import { describe, expect, it } from 'vitest'
import { CATALOGUE } from '../../dashboard/src/i18n/catalogue.js'
import { Formats } from '../../dashboard/src/i18n/formats.js'
import { pickLocale } from '../../dashboard/src/i18n/locales.js'
import { Translator } from '../../dashboard/src/i18n/translator.js'

type Room = { en: Record<string, string>; 'zh-CN': Record<string, string> }
const rooms = Object.entries(CATALOGUE as Record<string, Room>)

/** The argument names a message takes, plural and select ones included, with their branches' own. */
function argsOf(elements: MessageFormatElement[], into = new Set<string>()): Set<string> {
  for (const el of elements) {
    if (el.type === TYPE.literal || el.type === TYPE.pound) continue
    if (el.type === TYPE.tag) {
      argsOf(el.children, into)
      continue
    }
    into.add(el.value)
    if (el.type === TYPE.plural || el.type === TYPE.select) {
      for (const opt of Object.values(el.options)) argsOf(opt.value, into)
    }
  }
  return into
}

/** Words a Chinese message may keep in Latin letters: the product's name and technical terms. */
const LATIN_ALLOWED = new Set([
  'Doorstep',
  'MQTT',
  'ID',
  'CSV',
  'API',
  'URL',
  'MiB',
  'GiB',
  'KiB',
  'sha256',
  'SHA-256',
  'npx',
  'doorstep',
  'verify',
  'key',
  'zip',
])

describe('the Chinese and English catalogues', () => {
  it('have a room at all', () => {
    expect(rooms.length).toBeGreaterThan(0)
  })

  for (const [name, room] of rooms) {
    describe(name, () => {
      it('have the same keys: nothing is in one language only', () => {
        const en = Object.keys(room.en).sort()
        const zh = Object.keys(room['zh-CN']).sort()
        expect(
          zh.filter((k) => !en.includes(k)),
          'only in Chinese',
        ).toEqual([])
        expect(
          en.filter((k) => !zh.includes(k)),
          'only in English',
        ).toEqual([])
      })

      it('parse as ICU messages and take the same arguments in both languages', () => {
        for (const [key, en] of Object.entries(room.en)) {
          const zh = room['zh-CN'][key] ?? ''
          const enArgs = [...argsOf(parse(en))].sort()
          const zhArgs = [...argsOf(parse(zh))].sort()
          expect(zhArgs, `${name}.${key}`).toEqual(enArgs)
        }
      })

      it('say every message in Chinese, not a copy of the English', () => {
        const untranslated = Object.entries(room['zh-CN']).filter(([key, zh]) => {
          if (/[\u4e00-\u9fff]/.test(zh)) return false
          // Without a Chinese character, only allowed words, arguments and punctuation may remain.
          const words = zh.replace(/\{[^}]*\}/g, ' ').match(/[A-Za-z][A-Za-z0-9-]*/g) ?? []
          return words.some((w) => !LATIN_ALLOWED.has(w)) || zh === room.en[key]
        })
        expect(untranslated.map(([k]) => `${name}.${k}`)).toEqual([])
      })
    })
  }
})

describe('locale', () => {
  it("follows the browser's first language we speak, English otherwise", () => {
    expect(pickLocale(['zh-CN', 'en'])).toBe('zh-CN')
    expect(pickLocale(['zh-TW'])).toBe('zh-CN')
    expect(pickLocale(['zh'])).toBe('zh-CN')
    expect(pickLocale(['fr-FR', 'en-GB', 'zh'])).toBe('en')
    expect(pickLocale(['de', 'zh-Hans-CN'])).toBe('zh-CN')
    expect(pickLocale(['fr'])).toBe('en')
    expect(pickLocale([])).toBe('en')
  })

  it('formats messages, counts, durations and times for the locale', () => {
    const en = new Translator('en')
    const zh = new Translator('zh-CN')
    expect(en.t('shell.title.district', { district: 7 })).toBe('District 7')
    expect(zh.t('shell.title.district', { district: 7 })).toBe('第7警区')
    expect(new Formats('en').duration(12 * 60_000)).toBe('12 min')
    expect(new Formats('zh-CN').duration(12 * 60_000)).toBe('12分钟')
    expect(new Formats('en').duration((3 * 60 + 20) * 60_000)).toBe('3 hr 20 min')
    expect(new Formats('zh-CN').duration((3 * 60 + 20) * 60_000)).toBe('3小时20分钟')
    expect(new Formats('en').number(12345)).toBe('12,345')
    expect(new Formats('en').ago(null, 0, 'never')).toBe('never')
    expect(new Formats('zh-CN').ago(0, 12 * 60_000, '从未')).toBe('12分钟前')
    expect(new Formats('en').ago(0, 12 * 60_000, 'never')).toBe('12 minutes ago')
    const at = Date.UTC(2026, 11, 3, 6, 5, 0)
    expect(new Formats('zh-CN').dateTime(at)).toMatch(/2026年12月0?3日/)
    expect(new Formats('en').dateTime(at)).toMatch(/Dec/)
  })

  it('shows a key missing at run time as itself, never as nothing', () => {
    const en = new Translator('en')
    expect(en.t('shell.nope' as Parameters<Translator['t']>[0])).toBe('shell.nope')
  })
})
