import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '../../gateway/src/errors.js'

describe('error codes', () => {
  it('every code is documented in the README with its status', () => {
    const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8')
    for (const [code, { status }] of Object.entries(ERRORS)) {
      const row = readme.split('\n').find((l) => l.includes(`\`${code}\``))
      expect(row, `${code} missing from README`).toBeDefined()
      expect(row).toContain(`| ${status} |`)
    }
  })
})
