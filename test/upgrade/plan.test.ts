import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { plan, RELEASE, roomNeeded } from '../../gateway/src/upgrade/index.js'
import { SCHEMAS, versionsOf } from '../../gateway/src/upgrade/schemas.js'
import { RELEASE_0_1_0 } from '../fixtures/previous-release/make-db.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const known = { audit: 2, cases: 2, release: 1 }

describe('the upgrade plan', () => {
  it('leaves a new database alone', () => {
    expect(plan(null, known)).toEqual({ kind: 'fresh' })
    expect(plan({ release: null, versions: {} }, known)).toEqual({ kind: 'fresh' })
  })

  it('sees a current database', () => {
    expect(plan({ release: RELEASE, versions: { ...known } }, known)).toEqual({ kind: 'current' })
  })

  it('upgrades a database with features behind or missing', () => {
    expect(plan({ release: null, versions: { audit: 2, cases: 1 } }, known)).toEqual({
      kind: 'upgrade',
      behind: [
        { feature: 'cases', database: 1, release: 2 },
        { feature: 'release', database: 0, release: 1 },
      ],
    })
  })

  it('refuses a database with a feature ahead, or one this release does not know, whatever else is behind', () => {
    expect(plan({ release: '0.3.0', versions: { audit: 3, cases: 1, release: 1 } }, known)).toEqual({
      kind: 'downgrade',
      ahead: [{ feature: 'audit', database: 3, release: 2 }],
    })
    expect(plan({ release: '0.3.0', versions: { ...known, later: 1 } }, known)).toEqual({
      kind: 'downgrade',
      ahead: [{ feature: 'later', database: 1, release: 0 }],
    })
  })

  it('asks for the databases and a margin of room', () => {
    expect(roomNeeded(0)).toBe(64 * 1024 * 1024)
    expect(roomNeeded(10 * 1024 ** 3)).toBe(11 * 1024 ** 3)
  })
})

describe('the release', () => {
  it('is the one both package.json files name', () => {
    for (const file of ['package.json', 'gateway/package.json']) {
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as { version: string }
      expect(pkg.version, file).toBe(RELEASE)
    }
  })

  it('knows every feature 0.1.0 had, at its version or later', () => {
    const now = versionsOf(SCHEMAS)
    for (const [feature, version] of Object.entries(RELEASE_0_1_0)) {
      expect(now[feature], feature).toBeGreaterThanOrEqual(version)
    }
    expect(SCHEMAS.some((s) => (RELEASE_0_1_0[s.feature] ?? 0) < s.steps.length)).toBe(true)
  })
})
