import { randomBytes, randomUUID } from 'node:crypto'
import {
  DeviceCreate,
  type DeviceCreateInput,
  type DeviceCredentials,
  type ImportRowError,
} from '@doorstep/proto'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import { isUniqueViolation, migrateShared, type SharedDb, type SharedSchema } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import type { DeviceRecord, DeviceRegistry } from './registry.js'
import { cacheDigest, generateSecret, hashSecret, sameDigest, verifySecret } from './secrets.js'

/** The registry's tables in a gateway's own SQLite file (frozen: a change is a new step). */
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

/** The same tables in a PostgreSQL shared by several gateways. */
export const REGISTRY_SCHEMA_POSTGRES = [
  `CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    district INTEGER NOT NULL CHECK (district BETWEEN 1 AND 61),
    address TEXT NOT NULL,
    owner_contact TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    model TEXT NOT NULL,
    firmware TEXT NOT NULL,
    setting TEXT NOT NULL,
    release_policy TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX devices_district ON devices (district);`,
]

const SCHEMA: SharedSchema = { sqlite: REGISTRY_SCHEMA, postgres: REGISTRY_SCHEMA_POSTGRES }

/** The channel on which gateways sharing PostgreSQL tell each other a unit changed. */
/** How long a load waits for its LISTEN to be in place before it reads anyway. */
const LISTEN_WAIT_MS = 5000

export const REGISTRY_CHANNEL = 'doorstep_registry'

/**
 * What one gateway tells the others: which unit (null: many, reread them all), whether it lost its
 * right to be connected, and who says so. Read with zod, as anything from outside the process.
 */
const RegistryChange = z.object({
  id: z.string().min(1).max(200).nullable(),
  why: z.enum(['changed', 'disabled', 'rotated']),
  node: z.string().max(64),
  /** Which registry instance said it. */
  from: z.string().max(64),
})
type RegistryChange = z.infer<typeof RegistryChange>

export interface RegistryOptions {
  log?: Logger | undefined
  /** This gateway's name, said in its notifications (for whoever reads them). */
  node?: string | undefined
  /**
   * A unit was disabled, or its secret rotated, on another gateway: this one closes its connection
   * too (the gateway that made the change has already told its own).
   */
  onRevoked?: ((id: string, reason: 'disabled' | 'rotated') => void) | undefined
  /** Longest a secret check waits in line, ms (MAX_LINE_WAIT_MS). */
  lineWaitMs?: number | undefined
}
/** Rows per INSERT: 14 values each stays under both engines' limit on bound parameters. */
const INSERT_CHUNK = 500

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

interface DevicesTable extends Row {
  secret_hash: string
}

interface RegistryTables {
  devices: DevicesTable
}

const RECORD_COLUMNS = [
  'id',
  'serial',
  'district',
  'address',
  'owner_contact',
  'lat',
  'lon',
  'model',
  'firmware',
  'setting',
  'release_policy',
  'enabled',
  'created_at',
] as const

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
 * Longest a check waits in line before the unit is asked to come back later. Firmware gives up on a
 * CONNACK after some seconds (the simulator after 15) and closes; aedes does not read the connection
 * while it authenticates, so that close is not seen, and the line would fill with checks for units long
 * gone, each newcomer waiting behind them past its own timeout. Bounding the wait keeps what is in line
 * worth doing.
 */
const MAX_LINE_WAIT_MS = 5000

/**
 * The device registry, on the gateway's SQLite or on a PostgreSQL shared by several gateways, with one
 * set of queries for both. Every record is also kept in memory, since the ingest path looks a unit up
 * on every message and must not wait for a database. With several gateways, each tells the others of
 * a change (PostgreSQL NOTIFY, the unit's id), and they reread that unit; a unit made on another
 * gateway a moment ago and not heard of yet is looked up when it authenticates (an upload; the broker
 * refuses ids it does not know before asking, so a scan of ids costs no query).
 */
export class StoredDeviceRegistry implements DeviceRegistry {
  readonly #shared: SharedDb
  readonly #db: Kysely<RegistryTables>
  readonly #log: Logger | undefined
  readonly #node: string
  readonly #onRevoked: RegistryOptions['onRevoked']
  readonly #byId = new Map<string, DeviceRecord>()
  /** Keyed digests of secrets that passed scrypt once: reconnect storms stay cheap. */
  readonly #authCache = new Map<string, Buffer>()
  readonly #cacheKey = randomBytes(32)
  /** Bumped whenever a unit's secret or state may have changed: a check that began before does not cache. */
  readonly #changes = new Map<string, number>()
  /** Bumped when every unit is reread at once. */
  #epoch = 0
  #verifying = 0
  readonly #waiting: Array<() => void> = []
  /** Rereads after another gateway's change, one at a time, so that an older read never lands last. */
  #rereads: Promise<void> = Promise.resolve()
  /**
   * A reread of every unit is queued and has not begun: another would read the same rows again. An
   * import through another gateway tells "many units" once per chunk, so a fleet provisioned through
   * several gateways at once would otherwise have every gateway read the whole registry once per chunk.
   */
  #fullQueued = false
  readonly #lineWaitMs: number
  #fullRereads = 0
  #identityWrites: Promise<void> = Promise.resolve()
  #listening = false
  /**
   * This registry's own name in its notifications, so it skips rereading what it wrote itself (memory is
   * already ahead of a reread). Not the node id: gateways in one process may share that.
   */
  readonly #self = randomUUID()

  constructor(shared: SharedDb, opts: RegistryOptions = {}) {
    this.#shared = shared
    this.#db = shared.tables<RegistryTables>()
    this.#log = opts.log?.child({ feature: 'registry' })
    this.#node = opts.node ?? ''
    this.#lineWaitMs = opts.lineWaitMs ?? MAX_LINE_WAIT_MS
    this.#onRevoked = opts.onRevoked
  }

  /**
   * Creates the table if needed, loads every record into memory, and listens for other gateways'
   * changes. Called again, it reloads.
   */
  async load(): Promise<void> {
    await migrateShared(this.#shared, 'registry', SCHEMA)
    // Listening first, then reading: a change told in between is heard, not lost. A database that
    // stops answering meanwhile is not waited on for long: the listener rereads everything when back.
    if (!this.#listening) {
      this.#listening = true
      await Promise.race([
        this.#shared.listen(
          REGISTRY_CHANNEL,
          (payload) => this.#heard(payload),
          () => this.#reread(null),
        ),
        new Promise((done) => setTimeout(done, LISTEN_WAIT_MS).unref()),
      ])
    }
    await this.#loadAll()
  }

  /** How many times every unit was read again after other gateways' changes (bursts read once). */
  get fullRereads(): number {
    return this.#fullRereads
  }

  async create(input: DeviceCreateInput): Promise<DeviceCredentials> {
    const [creds] = await this.#insert([DeviceCreate.parse(input)])
    return creds as DeviceCredentials
  }

  async importMany(rows: readonly unknown[]): Promise<DeviceCredentials[]> {
    const errors: ImportRowError[] = []
    const valid: Array<{ row: number; device: DeviceCreate }> = []
    rows.forEach((raw, row) => {
      const parsed = DeviceCreate.safeParse(raw)
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          errors.push({ row, field: issue.path.join('.') || '(row)', message: issue.message })
        }
        return
      }
      valid.push({ row, device: parsed.data })
    })
    // The database, not memory, says what exists: another gateway may have added a unit just now.
    const takenIds = await this.#existing(
      'id',
      valid.flatMap((v) => (v.device.id === undefined ? [] : [v.device.id])),
    )
    const takenSerials = await this.#existing(
      'serial',
      valid.map((v) => v.device.serial),
    )
    const seenIds = new Set<string>()
    const seenSerials = new Set<string>()
    for (const { row, device: d } of valid) {
      if (d.id !== undefined) {
        if (seenIds.has(d.id) || takenIds.has(d.id)) {
          errors.push({ row, field: 'id', message: 'id already exists' })
        }
        seenIds.add(d.id)
      }
      if (seenSerials.has(d.serial) || takenSerials.has(d.serial)) {
        errors.push({ row, field: 'serial', message: 'serial already exists' })
      }
      seenSerials.add(d.serial)
    }
    if (errors.length > 0) {
      errors.sort((a, b) => a.row - b.row)
      throw new DoorstepError('DOORSTEP_ERR_IMPORT_INVALID', undefined, { errors: errors.slice(0, 1000) })
    }
    return this.#insert(valid.map((v) => v.device))
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

  async authenticate(id: string, secret: string, gone?: AbortSignal): Promise<DeviceRecord | null | 'busy'> {
    // On one gateway memory holds every unit; a shared database may hold one not heard of yet.
    const record =
      this.#byId.get(id) ?? (this.#shared.dialect === 'sqlite' ? undefined : await this.#fetch(id))
    if (!record?.enabled) return null
    const digest = cacheDigest(this.#cacheKey, secret)
    const cached = this.#authCache.get(id)
    if (cached) return sameDigest(cached, digest) ? record : null
    const generation = this.#changes.get(id) ?? 0
    const epoch = this.#epoch
    // The place in line is taken before the stored hash is read, so the line also bounds the reads
    // a reconnect storm sends to a shared database.
    if (this.#verifying >= MAX_VERIFYING) {
      if (this.#waiting.length >= MAX_WAITING || gone?.aborted) return 'busy'
      if (!(await this.#waitInLine(gone))) return 'busy'
    } else this.#verifying++
    let hash: string | undefined
    let ok = false
    try {
      hash = await this.#secretHash(id)
      if (hash !== undefined) ok = await verifySecret(secret, hash)
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.#waiting.shift()
      if (next) next()
      else this.#verifying--
    }
    if (!ok) return null
    // The unit may have been disabled, or its secret rotated, while scrypt ran.
    if ((await this.#secretHash(id)) !== hash) return null
    const now = this.#byId.get(id)
    if (!now?.enabled) return null
    if ((this.#changes.get(id) ?? 0) === generation && this.#epoch === epoch) this.#authCache.set(id, digest)
    return now
  }

  /**
   * Waits for a secret-check slot; false when `gone` fires first, or after MAX_LINE_WAIT_MS: a check
   * for a unit that has gone, or will have by the time its turn comes, is not done for no one.
   */
  #waitInLine(gone: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const onGone = () => {
        clearTimeout(timer)
        gone?.removeEventListener('abort', onGone)
        const at = this.#waiting.indexOf(take)
        if (at >= 0) this.#waiting.splice(at, 1)
        resolve(false)
      }
      const take = () => {
        clearTimeout(timer)
        gone?.removeEventListener('abort', onGone)
        resolve(true)
      }
      const timer = setTimeout(onGone, this.#lineWaitMs)
      gone?.addEventListener('abort', onGone, { once: true })
      this.#waiting.push(take)
    })
  }

  /**
   * Called from the ingest path on a unit's hello: memory changes at once, the database write follows
   * without the caller waiting for it (a failure is logged; the next hello writes it again).
   */
  updateIdentity(id: string, model: string, firmware: string): void {
    const record = this.#byId.get(id)
    if (!record || (record.model === model && record.firmware === firmware)) return
    this.#byId.set(id, { ...record, model, firmware })
    // One write after another: two hellos close together must reach the database in their order.
    this.#identityWrites = this.#identityWrites.then(() =>
      this.#db
        .updateTable('devices')
        .set({ model, firmware })
        .where('id', '=', id)
        .execute()
        .then(() => this.#tell({ id, why: 'changed' }))
        .catch((err: Error) => {
          // Forgotten (unless a later hello changed it again), so that the next hello writes it again.
          const now = this.#byId.get(id)
          if (now?.model === model && now.firmware === firmware) {
            this.#byId.set(id, { ...now, model: record.model, firmware: record.firmware })
          }
          this.#log?.warn({ device: id, err: err.message }, "could not record the unit's model and firmware")
        }),
    )
  }

  async setEnabled(id: string, enabled: boolean): Promise<void> {
    const changed = await this.#db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('devices')
        .set({ enabled: enabled ? 1 : 0 })
        .where('id', '=', id)
        .executeTakeFirst()
      if (r.numUpdatedRows === 0n) return false
      await this.#tell({ id, why: enabled ? 'changed' : 'disabled' }, trx)
      return true
    })
    if (!changed) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
    const record = this.#byId.get(id) ?? (await this.#fetch(id))
    if (record) this.#byId.set(id, { ...record, enabled })
    this.#forget(id)
  }

  async rotateSecret(id: string): Promise<string> {
    const secret = generateSecret()
    const hash = await hashSecret(secret)
    this.#forget(id)
    const changed = await this.#db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('devices')
        .set({ secret_hash: hash })
        .where('id', '=', id)
        .executeTakeFirst()
      if (r.numUpdatedRows === 0n) return false
      await this.#tell({ id, why: 'rotated' }, trx)
      return true
    })
    if (!changed) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id}`)
    // The cache may hold the old secret's digest again: without this the old secret would keep working.
    this.#forget(id)
    return secret
  }

  async #loadAll(): Promise<void> {
    const rows = await this.#db.selectFrom('devices').select(RECORD_COLUMNS).execute()
    this.#byId.clear()
    for (const row of rows) this.#byId.set(row.id, toRecord(row))
    this.#authCache.clear()
    this.#epoch++
  }

  /** Reads one unit from the database into memory (or drops it from memory when it is gone). */
  async #fetch(id: string): Promise<DeviceRecord | undefined> {
    const row = await this.#db
      .selectFrom('devices')
      .select(RECORD_COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) {
      this.#byId.delete(id)
      return undefined
    }
    const record = toRecord(row)
    this.#byId.set(id, record)
    return record
  }

  async #secretHash(id: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('devices')
      .select('secret_hash')
      .where('id', '=', id)
      .executeTakeFirst()
    return row?.secret_hash
  }

  /** Tells the other gateways (on PostgreSQL; nothing to tell on SQLite), within `trx` when given. */
  #tell(change: Omit<RegistryChange, 'node' | 'from'>, trx?: Kysely<RegistryTables>): Promise<void> {
    return this.#shared.notify(
      REGISTRY_CHANNEL,
      JSON.stringify({ ...change, node: this.#node, from: this.#self }),
      trx,
    )
  }

  #heard(payload: string): void {
    let change: RegistryChange
    try {
      change = RegistryChange.parse(JSON.parse(payload))
    } catch {
      this.#log?.warn(
        { channel: REGISTRY_CHANNEL },
        'a registry change in an unknown form; rereading every unit',
      )
      this.#reread(null)
      return
    }
    // Its own change: memory has it already, and the gateway that made it has cut the unit off itself.
    if (change.from === this.#self) return
    const { id, why } = change
    // After the reread: a unit cut off before this gateway knows why would be let straight back in.
    const revoke = id !== null && why !== 'changed' ? () => this.#onRevoked?.(id, why) : undefined
    this.#reread(id, revoke)
  }

  /** Another gateway changed `id` (null: many units, or notifications were lost): read it again. */
  #reread(id: string | null, then?: () => void): void {
    if (id !== null) this.#forget(id)
    else if (this.#fullQueued) return
    else this.#fullQueued = true
    this.#rereads = this.#rereads.then(async () => {
      if (id === null) {
        // From here on a change is not in what this read may already have passed: it queues another.
        this.#fullQueued = false
        this.#fullRereads++
      }
      try {
        if (id === null) await this.#loadAll()
        else await this.#fetch(id)
        then?.()
      } catch (err) {
        this.#log?.warn(
          { device: id, err: (err as Error).message },
          'could not reread a unit changed elsewhere',
        )
      }
    })
  }

  /** Drops the unit's cached secret, and keeps any check already running from caching it again. */
  #forget(id: string): void {
    this.#authCache.delete(id)
    this.#changes.set(id, (this.#changes.get(id) ?? 0) + 1)
  }

  /** Which of `values` a row already has in `column`. */
  async #existing(column: 'id' | 'serial', values: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>()
    for (let i = 0; i < values.length; i += INSERT_CHUNK) {
      const chunk = values.slice(i, i + INSERT_CHUNK)
      const rows = await this.#db.selectFrom('devices').select(column).where(column, 'in', chunk).execute()
      for (const r of rows) found.add(r[column])
    }
    return found
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
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < prepared.length; i += INSERT_CHUNK) {
          await trx
            .insertInto('devices')
            .values(prepared.slice(i, i + INSERT_CHUNK).map((p) => toRow(p.record, p.hash)))
            .execute()
        }
        const only = prepared.length === 1 ? prepared[0]?.record.id : undefined
        await this.#tell({ id: only ?? null, why: 'changed' }, trx)
      })
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new DoorstepError('DOORSTEP_ERR_DEVICE_EXISTS', undefined, undefined, { cause: err })
      }
      throw err
    }
    for (const p of prepared) this.#byId.set(p.record.id, p.record)
    return prepared.map((p) => ({ id: p.record.id, secret: p.secret }))
  }
}

function toRow(r: DeviceRecord, secretHash: string): DevicesTable {
  return {
    id: r.id,
    serial: r.serial,
    district: r.district,
    address: r.address,
    owner_contact: r.ownerContact,
    lat: r.lat,
    lon: r.lon,
    model: r.model,
    firmware: r.firmware,
    setting: r.setting,
    release_policy: r.releasePolicy,
    enabled: r.enabled ? 1 : 0,
    secret_hash: secretHash,
    created_at: r.createdAt,
  }
}

/** What `copyRegistry` did. */
export interface RegistryCopy {
  /** Units in the source. */
  total: number
  copied: number
  /** Already in the target under the same id: left as they are there. */
  present: number
  /** Not copied: the target has another unit with the same serial. */
  conflicts: Array<{ id: string; serial: string }>
}

/**
 * Copies every unit, its secret's hash with it, from one registry's database into another's (a
 * gateway's SQLite into the PostgreSQL the gateways will share), so that no unit needs a new secret.
 * Units already there are left alone, so a copy can be run again, and from several gateways' files in
 * turn. Gateways running on the target reread every unit afterwards.
 */
export async function copyRegistry(
  from: SharedDb,
  to: SharedDb,
  progress?: (done: number, total: number) => void,
): Promise<RegistryCopy> {
  await migrateShared(to, 'registry', SCHEMA)
  const rows = await from.tables<RegistryTables>().selectFrom('devices').selectAll().orderBy('id').execute()
  const target = to.tables<RegistryTables>()
  const report: RegistryCopy = { total: rows.length, copied: 0, present: 0, conflicts: [] }
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK)
    const inserted = await target
      .insertInto('devices')
      .values(chunk)
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .execute()
    report.copied += inserted.length
    const took = new Set(inserted.map((r) => r.id))
    const left = chunk.filter((r) => !took.has(r.id))
    if (left.length > 0) {
      const there = new Set(
        (
          await target
            .selectFrom('devices')
            .select('id')
            .where(
              'id',
              'in',
              left.map((r) => r.id),
            )
            .execute()
        ).map((r) => r.id),
      )
      for (const r of left) {
        if (there.has(r.id)) report.present++
        else report.conflicts.push({ id: r.id, serial: r.serial })
      }
    }
    progress?.(Math.min(i + INSERT_CHUNK, rows.length), rows.length)
  }
  if (report.copied > 0) {
    await to.notify(
      REGISTRY_CHANNEL,
      JSON.stringify({ id: null, why: 'changed', node: 'registry-copy', from: 'registry-copy' }),
    )
  }
  return report
}
