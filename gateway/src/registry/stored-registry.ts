import { randomBytes, randomUUID } from 'node:crypto'
import {
  DeviceCreate,
  type DeviceCreateInput,
  type DeviceCredentials,
  type ImportRowError,
} from '@doorstep/proto'
import { type Db, migrate, writeTransaction } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from './registry.js'
import { cacheDigest, generateSecret, hashSecret, sameDigest, verifySecret } from './secrets.js'

export const REGISTRY_SCHEMA = [
  `CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    district INTEGER NOT NULL CHECK (district BETWEEN 1 AND 61),
    address TEXT NOT NULL,
    owner_contact TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    model TEXT NOT NULL,
    firmware TEXT NOT NULL,
    setting TEXT NOT NULL,
    release_policy TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX devices_district ON devices (district);`,
]

interface Row {
  id: string
  serial: string
  district: number
  address: string
  owner_contact: string
  lat: number
  lon: number
  model: string
  firmware: string
  setting: 'urban' | 'rural'
  release_policy: DeviceRecord['releasePolicy']
  enabled: number
  created_at: number
}

function toRecord(r: Row): DeviceRecord {
  return {
    id: r.id,
    serial: r.serial,
    district: r.district,
    address: r.address,
    ownerContact: r.owner_contact,
    lat: r.lat,
    lon: r.lon,
    model: r.model,
    firmware: r.firmware,
    setting: r.setting,
    releasePolicy: r.release_policy,
    enabled: r.enabled === 1,
    createdAt: r.created_at,
  }
}

/** How many scrypt hashes run at once during an import (libuv has 4 threads). */
const HASH_PARALLELISM = 4
/**
 * Secret checks (scrypt, about 1 ms each) run at most this many at once; the
 * rest wait in line. After a gateway restart every unit's first connection
 * needs one, and waiting a few milliseconds in line beats being sent away
 * into a backoff of seconds. Only past `MAX_WAITING` is a unit asked to come
 * back later (CONNACK 3), so that a flood cannot grow the line without bound.
 */
const MAX_VERIFYING = 4
const MAX_WAITING = 4096

/**
 * The device registry on SQLite. Every record is also kept in memory, since
 * the ingest path looks a unit up on every message and must not touch disk.
 */
export class SqliteDeviceRegistry implements DeviceRegistry {
  readonly #db: Db
  readonly #byId = new Map<string, DeviceRecord>()
  /** Keyed digests of secrets that passed scrypt once: reconnect storms stay cheap. */
  readonly #authCache = new Map<string, Buffer>()
  readonly #cacheKey = randomBytes(32)
  #verifying = 0
  readonly #waiting: Array<() => void> = []

  constructor(db: Db) {
    this.#db = db
  }

  /** Creates the table if needed and loads every record into memory. */
  load(): void {
    migrate(this.#db, 'registry', REGISTRY_SCHEMA)
    this.#byId.clear()
    for (const row of this.#db.prepare('SELECT * FROM devices').all() as Row[]) {
      this.#byId.set(row.id, toRecord(row))
    }
  }

  async create(input: DeviceCreateInput): Promise<DeviceCredentials> {
    const [creds] = await this.#insert([DeviceCreate.parse(input)])
    return creds as DeviceCredentials
  }

  async importMany(rows: readonly unknown[]): Promise<DeviceCredentials[]> {
    const errors: ImportRowError[] = []
    const valid: DeviceCreate[] = []
    const seenIds = new Set<string>()
    const seenSerials = new Set<string>()
    rows.forEach((raw, row) => {
      const parsed = DeviceCreate.safeParse(raw)
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          errors.push({ row, field: issue.path.join('.') || '(row)', message: issue.message })
        }
        return
      }
      const d = parsed.data
      if (d.id !== undefined) {
        if (seenIds.has(d.id) || this.#byId.has(d.id)) {
          errors.push({ row, field: 'id', message: 'id already exists' })
        }
        seenIds.add(d.id)
      }
      if (seenSerials.has(d.serial) || this.#serialExists(d.serial)) {
        errors.push({ row, field: 'serial', message: 'serial already exists' })
      }
      seenSerials.add(d.serial)
      valid.push(d)
    })
    if (errors.length > 0) {
      throw new DoorstepError('DOORSTEP_ERR_IMPORT_INVALID', undefined, { errors: errors.slice(0, 1000) })
    }
    return this.#insert(valid)
  }

  get(id: string): DeviceRecord | undefined {
    return this.#byId.get(id)
  }

  list(filter: { district?: number | undefined }): DeviceRecord[] {
    const all = [...this.#byId.values()]
    const out = filter.district === undefined ? all : all.filter((d) => d.district === filter.district)
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  count(): number {
    return this.#byId.size
  }

  async authenticate(id: string, secret: string): Promise<DeviceRecord | null | 'busy'> {
    const record = this.#byId.get(id)
    if (!record?.enabled) return null
    const digest = cacheDigest(this.#cacheKey, secret)
    const cached = this.#authCache.get(id)
    if (cached) return sameDigest(cached, digest) ? record : null
    const row = this.#db.prepare('SELECT secret_hash FROM devices WHERE id = ?').get(id) as
      | { secret_hash: string }
      | undefined
    if (!row) return null
    if (this.#verifying >= MAX_VERIFYING) {
      if (this.#waiting.length >= MAX_WAITING) return 'busy'
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    } else this.#verifying++
    let ok: boolean
    try {
      ok = await verifySecret(secret, row.secret_hash)
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.#waiting.shift()
      if (next) next()
      else this.#verifying--
    }
    if (!ok) return null
    // The unit may have been disabled, or its secret rotated, while scrypt ran.
    const now = this.#byId.get(id)
    if (!now?.enabled) return null
    const after = this.#db.prepare('SELECT secret_hash FROM devices WHERE id = ?').get(id) as
      | { secret_hash: string }
      | undefined
    if (after?.secret_hash !== row.secret_hash) return null
    this.#authCache.set(id, digest)
    return now
  }

  updateIdentity(id: string, model: string, firmware: string): void {
    const record = this.#byId.get(id)
    if (!record || (record.model === model && record.firmware === firmware)) return
    this.#db.prepare('UPDATE devices SET model = ?, firmware = ? WHERE id = ?').run(model, firmware, id)
    this.#byId.set(id, { ...record, model, firmware })
  }

  setEnabled(id: string, enabled: boolean): void {
    const record = this.#byId.get(id)
    if (!record) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
    this.#db.prepare('UPDATE devices SET enabled = ? WHERE id = ?').run(enabled ? 1 : 0, id)
    this.#byId.set(id, { ...record, enabled })
    this.#authCache.delete(id)
  }

  async rotateSecret(id: string): Promise<string> {
    if (!this.#byId.has(id)) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
    const secret = generateSecret()
    const hash = await hashSecret(secret)
    const changed = this.#db.prepare('UPDATE devices SET secret_hash = ? WHERE id = ?').run(hash, id).changes
    if (changed !== 1) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
    // The cache holds the old secret's digest: without this the old secret would keep working.
    this.#authCache.delete(id)
    return secret
  }

  #serialExists(serial: string): boolean {
    return this.#db.prepare('SELECT 1 FROM devices WHERE serial = ?').get(serial) !== undefined
  }

  async #insert(devices: readonly DeviceCreate[]): Promise<DeviceCredentials[]> {
    const prepared: Array<{ record: DeviceRecord; secret: string; hash: string }> = []
    for (let i = 0; i < devices.length; i += HASH_PARALLELISM) {
      const chunk = devices.slice(i, i + HASH_PARALLELISM)
      const hashed = await Promise.all(
        chunk.map(async (d) => {
          const secret = generateSecret()
          const record: DeviceRecord = {
            id: d.id ?? `cam-${randomUUID().slice(0, 8)}`,
            serial: d.serial,
            district: d.district,
            address: d.address,
            ownerContact: d.ownerContact,
            lat: d.lat,
            lon: d.lon,
            model: d.model,
            firmware: d.firmware,
            setting: d.setting,
            releasePolicy: d.releasePolicy,
            enabled: d.enabled,
            createdAt: Date.now(),
          }
          return { record, secret, hash: await hashSecret(secret) }
        }),
      )
      prepared.push(...hashed)
    }
    const stmt = this.#db.prepare(
      `INSERT INTO devices (id, serial, district, address, owner_contact, lat, lon, model, firmware, setting,
        release_policy, enabled, secret_hash, created_at)
       VALUES (@id, @serial, @district, @address, @ownerContact, @lat, @lon, @model, @firmware, @setting,
        @releasePolicy, @enabled, @hash, @createdAt)`,
    )
    try {
      writeTransaction(this.#db, () => {
        for (const p of prepared) stmt.run({ ...p.record, enabled: p.record.enabled ? 1 : 0, hash: p.hash })
      })
    } catch (err) {
      if (err instanceof Error && /UNIQUE constraint/.test(err.message)) {
        throw new DoorstepError('DOORSTEP_ERR_DEVICE_EXISTS', undefined, undefined, { cause: err })
      }
      throw err
    }
    for (const p of prepared) this.#byId.set(p.record.id, p.record)
    return prepared.map((p) => ({ id: p.record.id, secret: p.secret }))
  }
}
