import fs from 'node:fs'
import path from 'node:path'
import { ROOT } from './children.js'
import { machine } from './proc.js'
import { measuredCommit, writeSummary } from './summary.js'

/**
 * Writes one run's results to bench/results/NAME-<time>.json, stamped with the
 * time, the machine and the commit measured, then rebuilds NAME's summary table
 * in bench/README.md from every results file. Returns the file's path.
 */
export function saveResults(name: string, body: Record<string, unknown>): string {
  const at = new Date().toISOString()
  const out = { at, machine: machine(), commit: measuredCommit(), ...body }
  const file = path.join(ROOT, 'bench/results', `${name}-${at.replace(/[:.]/g, '-')}.json`)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`)
  writeSummary(name)
  return file
}
