import { createHash } from 'node:crypto'
import type { ChainProblem } from '@doorstep/proto'

/**
 * Hash chains for the audit log and the custody log of a case. Each entry's
 * hash is sha256(prevHash + canonicalJson(entry without prevHash and hash));
 * the first entry's prevHash is GENESIS. Editing, removing or reordering an
 * entry breaks the chain at that entry. Pure functions: the `doorstep verify`
 * CLI uses them on an export, away from any gateway.
 */

export const GENESIS = '0'.repeat(64)

/**
 * JSON with object keys sorted at every level and no whitespace, so the same
 * value always gives the same bytes (RFC 8785 for the values we store:
 * strings, safe integers, booleans, null, arrays, plain objects).
 * `undefined` members are dropped, as `JSON.stringify` does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new Error('canonical JSON: not a finite number')
    if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
      throw new Error(`canonical JSON: cannot encode a ${typeof value}`)
    }
    return JSON.stringify(value) ?? 'null'
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The hash of one link: what it says (every field but the two hashes) bound to the link before it. */
export function linkHash(prevHash: string, body: Record<string, unknown>): string {
  return sha256Hex(prevHash + canonicalJson(body))
}

/** Any chain entry: its content plus `seq`, `prevHash` and `hash`. */
export interface Link {
  seq: number
  prevHash: string
  hash: string
  [field: string]: unknown
}

function bodyOf(link: Link): Record<string, unknown> {
  const { prevHash: _p, hash: _h, ...body } = link
  return body
}

/** What a walk of a chain found. */
export interface ChainWalk {
  entries: number
  head: string
  problems: ChainProblem[]
}

/** Checks one link after another, in order; `result` is what was found so far. */
function chainWalker(): { add(link: Link): void; result(): ChainWalk } {
  const problems: ChainProblem[] = []
  let prev = GENESIS
  let expectSeq = 1
  let entries = 0
  return {
    add(link) {
      entries++
      if (link.seq !== expectSeq) {
        problems.push({ seq: link.seq, problem: `sequence jumps from ${expectSeq - 1} to ${link.seq}` })
      }
      if (link.prevHash !== prev) {
        problems.push({ seq: link.seq, problem: 'prevHash is not the hash of the entry before it' })
      }
      const actual = linkHash(link.prevHash, bodyOf(link))
      if (actual !== link.hash) {
        problems.push({
          seq: link.seq,
          problem: 'the entry was changed: its content does not match its hash',
        })
      }
      prev = link.hash
      expectSeq = link.seq + 1
    },
    result: () => ({ entries, head: prev, problems }),
  }
}

/**
 * Walks a chain in order. Reports each entry whose content does not match its
 * hash, whose prevHash is not the hash before it, or whose seq is out of line
 * (a removed or inserted entry). A chain cut at its end still verifies: keep
 * the head hash elsewhere to notice that.
 */
export function verifyChain(links: Iterable<Link>): ChainWalk {
  const walk = chainWalker()
  for (const link of links) walk.add(link)
  return walk.result()
}

/**
 * `verifyChain` over links read as they come (a table read page by page): only the link in hand is
 * held, never the whole chain.
 */
export async function verifyChainAsync(links: AsyncIterable<Link> | Iterable<Link>): Promise<ChainWalk> {
  const walk = chainWalker()
  for await (const link of links) walk.add(link)
  return walk.result()
}
