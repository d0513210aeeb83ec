#!/usr/bin/env node
// `npm run test:postgres`: the suite's node test files that start a gateway in-process or use the
// shared state's stores run again with that state in PostgreSQL (TEST_DATABASE=postgres; the tests
// start one PostgreSQL for the run). Files that never reach the shared state (parsers, the spool, the
// media tools, processes started with their own config) would only repeat their SQLite run, and CI's
// time is better spent elsewhere. Arguments after `--` go to vitest.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const SHARED =
  /\b(startTestGateway|new Gateway\(|TokenStore|StoredDeviceRegistry|runTokensCli|runRegistryCli)\b/

// A file that sets DOORSTEP_DATABASE_URL on every gateway it starts, to a PostgreSQL of its own, runs
// the same in both passes; it says so with this line and runs once.
const OWN_POSTGRES = /^\/\/ test:postgres: every gateway here is on its own PostgreSQL$/m

function testFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return testFiles(p)
    return e.name.endsWith('.test.ts') && !e.name.endsWith('.browser.test.ts') ? [p] : []
  })
}

const files = testFiles('test')
  .filter((f) => {
    const text = fs.readFileSync(f, 'utf8')
    return SHARED.test(text) && !OWN_POSTGRES.test(text)
  })
  .sort()
if (files.length === 0) {
  process.stderr.write('test:postgres: no test file reaches the shared state; nothing to run\n')
  process.exit(1)
}
process.stdout.write(`test:postgres: ${files.length} files with the shared state in PostgreSQL\n`)
const r = spawnSync('npx', ['vitest', 'run', '--project', 'node', ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
  env: { ...process.env, TEST_DATABASE: 'postgres' },
})
process.exit(r.status ?? 1)
