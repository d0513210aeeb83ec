import fs from 'node:fs'
import path from 'node:path'
import { Checkpoint } from '@doorstep/proto'
import { canonicalJson } from '../audit/index.js'
import { type Db, migrate, writeTransaction } from '../db/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { type EvidenceKeyring, evidenceDir } from './keys.js'

export const CHECKPOINT_FILE = 'checkpoints.jsonl'

export const EVIDENCE_SCHEMA = [
  `CREATE TABLE evidence_checkpoints (
    id INTEGER PRIMARY KEY,
    chain TEXT NOT NULL,
    entries INTEGER NOT NULL,
    head TEXT NOT NULL,
    at INTEGER NOT NULL,
    key_fingerprint TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  CREATE INDEX evidence_checkpoints_chain ON evidence_checkpoints (chain, entries);
  CREATE TRIGGER evidence_checkpoints_no_update BEFORE UPDATE ON evidence_checkpoints
    BEGIN SELECT RAISE(ABORT, 'evidence_checkpoints is append-only'); END;
  CREATE TRIGGER evidence_checkpoints_no_delete BEFORE DELETE ON evidence_checkpoints
    BEGIN SELECT RAISE(ABORT, 'evidence_checkpoints is append-only'); END;`,
]

/** The bytes a checkpoint's signature covers: the canonical JSON of every field but the signature. */
export function checkpointBody(c: Omit<Checkpoint, 'signature'>): string {
  return canonicalJson({
    chain: c.chain,
    entries: c.entries,
    head: c.head,
    at: c.at,
    keyFingerprint: c.keyFingerprint,
  })
}

/** A chain's current length and head, as a checkpoint records it. */
export interface ChainHead {
  chain: string
  entries: number
  head: string
}

interface Row {
  chain: string
  entries: number
  head: string
  at: number
  key_fingerprint: string
  signature: string
}

/** Checkpoints in the database, oldest first (read by the gateway and by the offline check). */
export function checkpointsInDb(db: Db): Checkpoint[] {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evidence_checkpoints'")
    .get()
  if (!exists) return []
  const rows = db.prepare('SELECT * FROM evidence_checkpoints ORDER BY id').all() as Row[]
  return rows.map((r) => ({
    chain: r.chain,
    entries: r.entries,
    head: r.head,
    at: r.at,
    keyFingerprint: r.key_fingerprint,
    signature: r.signature,
  }))
}

/** Checkpoints in the append-only file; a line that is not one is reported, not skipped silently. */
export function checkpointsInFile(dataDir: string): { checkpoints: Checkpoint[]; problems: string[] } {
  const file = path.join(evidenceDir(dataDir), CHECKPOINT_FILE)
  if (!fs.existsSync(file)) return { checkpoints: [], problems: [] }
  const checkpoints: Checkpoint[] = []
  const problems: string[] = []
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return
      try {
        const r = Checkpoint.safeParse(JSON.parse(line))
        if (r.success) checkpoints.push(r.data)
        else problems.push(`${CHECKPOINT_FILE} line ${i + 1}: not a checkpoint`)
      } catch {
        problems.push(`${CHECKPOINT_FILE} line ${i + 1}: not JSON`)
      }
    })
  return { checkpoints, problems }
}

export interface CheckpointerDeps {
  db: Db
  dataDir: string
  keys: Pick<EvidenceKeyring, 'fingerprint' | 'sign'>
  /** Every chain to checkpoint: the audit log and each case's custody log. */
  chains: () => Promise<ChainHead[]>
  /** Checkpoint when the audit log has grown by this many entries... */
  every: number
  /** ...and at least this often while any chain grows, ms. */
  intervalMs: number
  log?: Logger
  now?: () => number
}

/**
 * Signs the heads of the audit log and of every case's custody log: when the
 * audit log has grown by `every` entries (checked after each append, outside
 * the appending transaction, so a rolled-back entry is never checkpointed),
 * every `intervalMs`, and at stop. Each checkpoint goes into SQLite and is
 * appended (and fsynced) to `checkpoints.jsonl` beside the key: someone who
 * rewrites the database and recomputes its chains still does not match the
 * heads the key signed, and cannot forge new ones without the key.
 */
export class Checkpointer implements Feature {
  readonly name = 'checkpoints'
  readonly #d: CheckpointerDeps
  readonly #now: () => number
  /** Entries of each chain at its last checkpoint. */
  #last = new Map<string, number>()
  #timer: NodeJS.Timeout | null = null
  #pending = false
  #fd: number | null = null
  /** The checkpoint being made: the next one starts after it, so two never sign the same growth. */
  #running: Promise<unknown> = Promise.resolve()

  constructor(deps: CheckpointerDeps) {
    this.#d = deps
    this.#now = deps.now ?? Date.now
  }

  start(): void {
    migrate(this.#d.db, 'evidence', EVIDENCE_SCHEMA)
    fs.mkdirSync(evidenceDir(this.#d.dataDir), { recursive: true })
    this.#fd = fs.openSync(path.join(evidenceDir(this.#d.dataDir), CHECKPOINT_FILE), 'a', 0o644)
    for (const c of checkpointsInDb(this.#d.db))
      this.#last.set(c.chain, Math.max(c.entries, this.#last.get(c.chain) ?? 0))
    this.#timer = setInterval(() => void this.#safely(), this.#d.intervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.#safely()
    if (this.#fd !== null) fs.closeSync(this.#fd)
    this.#fd = null
  }

  /** Called after an audit append: checkpoints once the audit log has grown by `every`. */
  auditAppended(seq: number): void {
    if (this.#pending || seq - (this.#last.get('audit') ?? 0) < this.#d.every) return
    this.#pending = true
    setImmediate(() => {
      this.#pending = false
      void this.#safely()
    })
  }

  /**
   * Signs and stores a checkpoint of every chain that grew since its last one; returns them. One at a
   * time: a call waits for the one before it to end.
   */
  checkpoint(): Promise<Checkpoint[]> {
    const next = this.#running.then(() => this.#checkpoint())
    this.#running = next.catch(() => {})
    return next
  }

  async #checkpoint(): Promise<Checkpoint[]> {
    if (this.#fd === null) return []
    const made: Checkpoint[] = []
    const at = this.#now()
    const heads = await this.#d.chains()
    // Stopped while the heads were read: the final checkpoint was made, and the file is closed.
    if (this.#fd === null) return []
    for (const h of heads) {
      if (h.entries === 0 || h.entries <= (this.#last.get(h.chain) ?? 0)) continue
      const body = {
        chain: h.chain,
        entries: h.entries,
        head: h.head,
        at,
        keyFingerprint: this.#d.keys.fingerprint,
      }
      made.push({ ...body, signature: this.#d.keys.sign(checkpointBody(body)) })
    }
    if (made.length === 0) return made
    // The file first: a checkpoint the database has and the file lacks would look like tampering.
    fs.writeSync(this.#fd, made.map((c) => `${JSON.stringify(c)}\n`).join(''))
    fs.fsyncSync(this.#fd)
    const insert = this.#d.db.prepare(
      'INSERT INTO evidence_checkpoints (chain, entries, head, at, key_fingerprint, signature) VALUES (?, ?, ?, ?, ?, ?)',
    )
    writeTransaction(this.#d.db, () => {
      for (const c of made) insert.run(c.chain, c.entries, c.head, c.at, c.keyFingerprint, c.signature)
    })
    for (const c of made) this.#last.set(c.chain, c.entries)
    return made
  }

  async #safely(): Promise<void> {
    try {
      await this.checkpoint()
    } catch (err) {
      this.#d.log?.error({ err: (err as Error).message }, 'log checkpoint failed')
    }
  }
}
