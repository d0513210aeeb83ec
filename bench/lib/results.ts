import fs from 'node:fs'
import path from 'node:path'
import { ROOT } from './children.js'

/**
 * Appends a row to the table of one benchmark in bench/README.md. The table
 * sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->`.
 */
export function appendResultRow(name: string, cells: readonly string[]): void {
  const file = path.join(ROOT, 'bench/README.md')
  const text = fs.readFileSync(file, 'utf8')
  const end = `<!-- /results:${name} -->`
  const at = text.indexOf(end)
  if (at < 0) throw new Error(`bench/README.md has no ${end} marker`)
  const row = `| ${cells.join(' | ')} |\n`
  fs.writeFileSync(file, text.slice(0, at) + row + text.slice(at))
}
