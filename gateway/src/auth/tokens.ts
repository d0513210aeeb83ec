import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Role } from '@doorstep/proto'
import { type Db, migrate, type StatementCache, statementCache } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import { tokenDigest } from '../registry/index.js'

export const TOKENS_SCHEMA = [
  `CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    owner_contact TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );`,
  // One row once the bootstrap token (DOORSTEP_ADMIN_TOKEN) is retired: from then on it is ignored.
  `CREATE TABLE bootstrap_token (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    retired_at INTEGER NOT NULL
  );`,
]

export interface Principal {
  kind: 'person'
  tokenId: number
  name: string
  role: Role
  /** For `owner` tokens: the contact the owner's devices are registered under. */
  ownerContact: string | null
}

/** A stored token as listed (see proto `TokenView`). */
export interface TokenInfo {
  id: number
  name: string
  role: Role
  ownerContact: string | null
  createdAt: number
  revokedAt: number | null
}

const INFO_SQL = 'SELECT id, name, role, owner_contact, created_at, revoked_at FROM api_tokens'
interface InfoRow {
  id: number
  name: string
  role: Role
  owner_contact: string | null
  created_at: number
  revoked_at: number | null
}
const toInfo = (r: InfoRow): TokenInfo => ({
  id: r.id,
  name: r.name,
  role: r.role,
  ownerContact: r.owner_contact,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
})

/**
 * People's API tokens. Only a sha256 digest is stored: tokens are 256 random
 * bits, so a fast digest cannot be reversed, and lookups stay O(1).
 */
export class TokenStore {
  readonly #db: Db
  /** Statements by SQL text, prepared once (`db/sqlite.ts`). */
  readonly #st: StatementCache
  #bootstrapDigest: Buffer | null = null

  constructor(db: Db) {
    this.#db = db
    this.#st = statementCache(db)
  }

  load(): void {
    migrate(this.#db, 'tokens', TOKENS_SCHEMA)
  }

  /**
   * The admin token from config works without being stored, until it is retired. Returns false
   * (and the token does not work) when it was retired before.
   */
  setBootstrapToken(token: string): boolean {
    if (this.bootstrapRetiredAt() !== null) return false
    this.#bootstrapDigest = Buffer.from(tokenDigest(token), 'hex')
    return true
  }

  bootstrapRetiredAt(): number | null {
    const r = this.#st('SELECT retired_at FROM bootstrap_token WHERE id = 1').get() as
      | { retired_at: number }
      | undefined
    return r?.retired_at ?? null
  }

  /**
   * Retires the bootstrap token for good: DOORSTEP_ADMIN_TOKEN is ignored from now on, also after
   * restarts. Only once a stored admin token is active, so nobody locks the gateway's admins out;
   * the host's `doorstep tokens issue --role admin` remains the way back in. Returns when it was
   * retired (the first time, if it already was).
   */
  retireBootstrap(): number {
    if (!this.hasActiveAdmin()) throw new DoorstepError('DOORSTEP_ERR_NO_ADMIN_TOKEN')
    this.#st('INSERT INTO bootstrap_token (id, retired_at) VALUES (1, ?) ON CONFLICT(id) DO NOTHING').run(
      Date.now(),
    )
    this.#bootstrapDigest = null
    return this.bootstrapRetiredAt() as number
  }

  /** Whether the token with this id still works (0: the bootstrap token). */
  isActive(tokenId: number): boolean {
    if (tokenId === 0) return this.#bootstrapDigest !== null && this.bootstrapRetiredAt() === null
    return this.#st('SELECT 1 FROM api_tokens WHERE id = ? AND revoked_at IS NULL').get(tokenId) !== undefined
  }

  hasActiveAdmin(): boolean {
    return (
      this.#st("SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1").get() !==
      undefined
    )
  }

  issue(name: string, role: Role, ownerContact: string | null = null): { id: number; token: string } {
    const token = `dst_${randomBytes(32).toString('base64url')}`
    const info = this.#st(
      'INSERT INTO api_tokens (name, role, digest, owner_contact, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(name, role, tokenDigest(token), ownerContact, Date.now())
    return { id: Number(info.lastInsertRowid), token }
  }

  /** Every stored token, newest first: never the token or its digest. */
  list(): TokenInfo[] {
    return (this.#st(`${INFO_SQL} ORDER BY id DESC`).all() as InfoRow[]).map(toInfo)
  }

  get(id: number): TokenInfo | undefined {
    const r = this.#st(`${INFO_SQL} WHERE id = ?`).get(id) as InfoRow | undefined
    return r ? toInfo(r) : undefined
  }

  revoke(id: number): boolean {
    return (
      this.#st('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(Date.now(), id)
        .changes === 1
    )
  }

  resolve(token: string): Principal | null {
    const digest = tokenDigest(token)
    if (this.#bootstrapDigest && timingSafeEqual(Buffer.from(digest, 'hex'), this.#bootstrapDigest)) {
      // The CLI may have retired it from another process: the database has the last word.
      if (this.bootstrapRetiredAt() !== null) {
        this.#bootstrapDigest = null
        return null
      }
      return { kind: 'person', tokenId: 0, name: 'bootstrap-admin', role: 'admin', ownerContact: null }
    }
    // The digest is the lookup key, so comparing it is not secret-dependent timing.
    const row = this.#st(
      'SELECT id, name, role, owner_contact FROM api_tokens WHERE digest = ? AND revoked_at IS NULL',
    ).get(digest) as { id: number; name: string; role: Role; owner_contact: string | null } | undefined
    return row
      ? { kind: 'person', tokenId: row.id, name: row.name, role: row.role, ownerContact: row.owner_contact }
      : null
  }
}
