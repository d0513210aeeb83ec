/**
 * `npm run bench:summary`: rebuilds every table in bench/README.md from the
 * files in bench/results/ (each bench does this for its own table after a run).
 */
import { SUMMARISED_BENCHES, writeSummary } from './lib/summary.js'

for (const bench of SUMMARISED_BENCHES) writeSummary(bench)
process.stdout.write(`bench/README.md: ${SUMMARISED_BENCHES.length} tables rebuilt from bench/results/\n`)
