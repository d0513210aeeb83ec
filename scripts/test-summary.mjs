#!/usr/bin/env node
// Prints the closing line CI reads, "N passed, N failed[, N skipped]", from
// vitest's JSON reports (one per run: the suite on SQLite, then on PostgreSQL),
// summed. Exits non-zero when a report is missing, since a run that produced no
// report did not test anything.
import fs from 'node:fs'

const files = process.argv.length > 2 ? process.argv.slice(2) : ['test-results/vitest.json']
let passed = 0
let failed = 0
let skipped = 0
let missing = false
for (const file of files) {
  let report
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    process.stderr.write(`test-summary: cannot read ${file}: ${err.message}\n`)
    missing = true
    failed++
    continue
  }
  passed += report.numPassedTests ?? 0
  // A test file that fails to load has no failed tests but is a failure all the same.
  const failedTests = report.numFailedTests ?? 0
  const failedFiles = report.numFailedTestSuites ?? 0
  failed += failedTests > 0 ? failedTests : failedFiles
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
}
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
process.exit(missing || failed > 0 || passed === 0 ? 1 : 0)
