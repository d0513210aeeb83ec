import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * The gateway's rooms: a feature folder reaches another feature only through
 * that feature's front door (`index.ts`), never an internal file; the wiring
 * (`gateway.ts` and the other top-level files) does the same. See
 * gateway/README.md "Rooms".
 */
const SRC = path.resolve(import.meta.dirname, '../../gateway/src')

interface Crossing {
  file: string
  specifier: string
}

/** Every import or re-export in `file` that names another feature's internal file. */
function internalCrossings(file: string, text: string): Crossing[] {
  const rel = path.relative(SRC, file)
  const own = rel.includes(path.sep) ? rel.split(path.sep)[0] : null
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false)
  const out: Crossing[] = []
  const check = (spec: string) => {
    if (!spec.startsWith('.')) return
    const target = path.relative(SRC, path.resolve(path.dirname(file), spec))
    const parts = target.split(path.sep)
    if (parts.length < 2 || parts[0] === '..') return
    const [feature, name] = parts
    if (feature === own) return
    if (parts.length === 2 && name === 'index.js') return
    out.push({ file: rel, specifier: spec })
  }
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      check(node.moduleSpecifier.text)
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    )
      check(node.arguments[0].text)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(p)
    return /\.(ts|mts)$/.test(e.name) ? [p] : []
  })
}

describe('gateway rooms', () => {
  it('no file imports another feature except through its index.ts', () => {
    const crossings = sourceFiles(SRC).flatMap((f) => internalCrossings(f, fs.readFileSync(f, 'utf8')))
    expect(crossings).toEqual([])
  })

  it('every feature folder has a front door', () => {
    const features = fs
      .readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
    const missing = features.filter((f) => !fs.existsSync(path.join(SRC, f, 'index.ts')))
    expect(missing).toEqual([])
  })

  it('the check catches a cross-feature import of an internal file, and lets a front door through', () => {
    const file = path.join(SRC, 'cases', 'example.ts')
    const text = [
      "import { ClipTable } from '../clips/clip-table.js'",
      "import { Clips } from '../clips/index.js'",
      "export { AuditLog } from '../audit/audit-log.js'",
      "import { CaseStore } from './case-store.js'",
      "const lazy = () => import('../media/ffmpeg.js')",
    ].join('\n')
    expect(internalCrossings(file, text).map((c) => c.specifier)).toEqual([
      '../clips/clip-table.js',
      '../audit/audit-log.js',
      '../media/ffmpeg.js',
    ])
    const wiring = path.join(SRC, 'gateway.ts')
    expect(internalCrossings(wiring, "import { Presence } from './presence/presence.js'")).toHaveLength(1)
    expect(internalCrossings(wiring, "import { Presence } from './presence/index.js'")).toHaveLength(0)
  })
})
