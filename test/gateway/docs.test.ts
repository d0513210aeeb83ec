import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONFIG_VARIABLES } from '../../gateway/src/config.js'
import { ERRORS } from '../../gateway/src/errors.js'

const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8')
const rowOf = (name: string) => readme.split('\n').find((l) => l.startsWith(`| \`${name}\``))

describe('README stays true to the code', () => {
  it('documents every error code with its status', () => {
    for (const [code, { status }] of Object.entries(ERRORS)) {
      const row = rowOf(code)
      expect(row, `${code} missing from README`).toBeDefined()
      expect(row).toContain(`| ${status} |`)
    }
  })

  it('documents every configuration variable', () => {
    for (const name of CONFIG_VARIABLES) expect(rowOf(name), `${name} missing from README`).toBeDefined()
  })
})
