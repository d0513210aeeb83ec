import { describe, expect, it } from 'vitest'
import { errorFromBody, messageOf, networkError } from '../../dashboard/src/api/errors.js'
import { Translator } from '../../dashboard/src/i18n/translator.js'

const refused = (code: string, message: string) => errorFromBody(409, { error: { code, message } })

describe("the gateway's errors in the reader's language", () => {
  const en = new Translator('en').t
  const zh = new Translator('zh-CN').t

  it("keeps the gateway's own words for English readers", () => {
    const err = refused('DOORSTEP_ERR_CASE_EXISTS', 'Case PD-2026-1 already exists')
    expect(messageOf(err, en)).toBe('Case PD-2026-1 already exists')
  })

  it("says a known code in Chinese, without the gateway's English", () => {
    expect(messageOf(refused('DOORSTEP_ERR_CASE_EXISTS', 'Case PD-2026-1 already exists'), zh)).toBe(
      '已存在相同编号的案件。',
    )
    expect(
      messageOf(
        errorFromBody(404, { error: { code: 'DOORSTEP_ERR_NOT_FOUND', message: 'No device x' } }),
        zh,
      ),
    ).toBe('未找到。')
  })

  it("falls back to the gateway's message for a code the catalogue does not know", () => {
    expect(messageOf(refused('DOORSTEP_ERR_SOMETHING_NEW', 'Something new happened'), zh)).toBe(
      'Something new happened',
    )
  })

  it("says the dashboard's own failures in either language", () => {
    expect(messageOf(networkError(), en)).toBe('The gateway is not answering')
    expect(messageOf(networkError(), zh)).not.toMatch(/[A-Za-z]{3,}/)
  })
})
