import type { Checkpoint, EvidenceKey, LogCheck, LogsReport } from '@doorstep/proto'
import { type Link, verifyChainAsync } from '../audit/index.js'
import { checkpointBody } from './checkpoints.js'
import { publicKeyFromPem, verifyBytes } from './signing.js'

/** Where the chains and checkpoints come from: the live gateway, or a data dir read offline. */
export interface LogSources {
  /** The audit log in order, read as the check goes (the table a page at a time). */
  auditLinks: () => AsyncIterable<Link>
  custodyCases: () => Promise<string[]>
  custodyLinks: (caseId: string) => AsyncIterable<Link>
  dbCheckpoints: readonly Checkpoint[]
  fileCheckpoints: { checkpoints: readonly Checkpoint[]; problems: readonly string[] }
  /** The key ring: every public key the gateway has signed with. */
  keys: readonly EvidenceKey[]
}

const when = (ms: number) => new Date(ms).toISOString()
const CUSTODY = 'custody:'

/** One chain against itself and its (signature-checked) checkpoints. */
async function checkChain(links: AsyncIterable<Link>, checkpoints: readonly Checkpoint[]): Promise<LogCheck> {
  const wanted = new Set(checkpoints.map((c) => c.entries))
  const stored = new Map<number, string>()
  async function* watch(): AsyncGenerator<Link> {
    for await (const l of links) {
      if (wanted.has(l.seq)) stored.set(l.seq, l.hash)
      yield l
    }
  }
  const r = await verifyChainAsync(watch())
  const problems = [...r.problems]
  for (const c of checkpoints) {
    if (r.entries < c.entries) {
      problems.push({
        seq: c.entries,
        problem: `the log was cut short: the checkpoint signed at ${when(c.at)} saw ${c.entries} entries, it now has ${r.entries}`,
      })
    } else if (stored.get(c.entries) !== c.head) {
      problems.push({
        seq: c.entries,
        problem: `entries up to ${c.entries} were rewritten or removed since the checkpoint signed at ${when(c.at)}: the chain no longer has the head it signed`,
      })
    }
  }
  const last = checkpoints.reduce<number | null>((m, c) => (m === null || c.at > m ? c.at : m), null)
  return {
    ok: problems.length === 0,
    entries: r.entries,
    head: r.head,
    problems,
    checkpoints: checkpoints.length,
    lastCheckpointAt: last,
  }
}

/**
 * Checks the audit log and every case's custody log against their hash
 * chains and their signed checkpoints. A checkpoint counts only if the
 * signature is by a key of the ring; checkpoints are taken from the database
 * and from the append-only file together, and one that is in only one of them
 * is itself a problem (rows deleted from the table, or a file cut short).
 */
export async function verifyLogs(src: LogSources): Promise<LogsReport> {
  const checkpointProblems = [...src.fileCheckpoints.problems]
  const bySig = new Map<string, { c: Checkpoint; inDb: boolean; inFile: boolean }>()
  for (const c of src.dbCheckpoints) bySig.set(c.signature, { c, inDb: true, inFile: false })
  for (const c of src.fileCheckpoints.checkpoints) {
    const seen = bySig.get(c.signature)
    if (seen) seen.inFile = true
    else bySig.set(c.signature, { c, inDb: false, inFile: true })
  }
  const valid: Checkpoint[] = []
  for (const { c, inDb, inFile } of bySig.values()) {
    const name = `checkpoint of ${c.chain} at ${when(c.at)} (${c.entries} entries)`
    if (!inFile) checkpointProblems.push(`${name} is in the database but not in the checkpoint file`)
    if (!inDb)
      checkpointProblems.push(`${name} is in the checkpoint file but not in the database: rows were removed`)
    const key = src.keys.find((k) => k.fingerprint === c.keyFingerprint)
    const pub = key ? publicKeyFromPem(key.publicKey) : null
    if (!pub)
      checkpointProblems.push(
        `${name} is signed by ${c.keyFingerprint}, which is not one of the gateway's keys`,
      )
    else if (!verifyBytes(pub, checkpointBody(c), c.signature)) {
      checkpointProblems.push(`${name}: its signature does not match its content`)
    } else valid.push(c)
  }
  const of = (chain: string) => valid.filter((c) => c.chain === chain)
  const audit = await checkChain(src.auditLinks(), of('audit'))
  const caseIds = new Set(await src.custodyCases())
  for (const c of valid) if (c.chain.startsWith(CUSTODY)) caseIds.add(c.chain.slice(CUSTODY.length))
  // One case after another: a single case's chain is in memory at a time.
  const custody: LogsReport['custody'] = []
  for (const caseId of [...caseIds].sort()) {
    custody.push({ caseId, ...(await checkChain(src.custodyLinks(caseId), of(`${CUSTODY}${caseId}`))) })
  }
  return {
    ...audit,
    ok: audit.ok && custody.every((c) => c.ok) && checkpointProblems.length === 0,
    custody,
    checkpointProblems,
  }
}

/** The sources as the gateway (or the offline check) has them: the two logs, the checkpoints, the ring. */
export function logSourcesFrom(o: {
  audit: { links(): AsyncIterable<Link> }
  custody: {
    heads(): Promise<Array<{ caseId: string }>>
    entries(caseId: string): Promise<readonly object[]>
  }
  dbCheckpoints: readonly Checkpoint[]
  fileCheckpoints: LogSources['fileCheckpoints']
  keys: readonly EvidenceKey[]
}): LogSources {
  return {
    auditLinks: () => o.audit.links(),
    custodyCases: async () => (await o.custody.heads()).map((h) => h.caseId),
    custodyLinks: async function* (caseId) {
      yield* (await o.custody.entries(caseId)) as unknown as Link[]
    },
    dbCheckpoints: o.dbCheckpoints,
    fileCheckpoints: o.fileCheckpoints,
    keys: o.keys,
  }
}
