#!/usr/bin/env node
// Prints the closing line CI reads, "N passed, N failed[, N skipped]", from
// vitest's JSON report. Exits non-zero when the report is missing, since a run
// that produced no report did not test anything.
import fs from 'node:fs'

const file = process.argv[2] ?? 'test-results/vitest.json'
let report
try {
  report = JSON.parse(fs.readFileSync(file, 'utf8'))
} catch (err) {
  process.stderr.write(`test-summary: cannot read ${file}: ${err.message}\n`)
  process.stdout.write('0 passed, 1 failed\n')
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
// A test file that fails to load has no failed tests but is a failure all the same.
const failedTests = report.numFailedTests ?? 0
const failedFiles = report.numFailedTestSuites ?? 0
const failed = failedTests > 0 ? failedTests : failedFiles
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
