import fs from 'node:fs'
import path from 'node:path'
import { DeviceImportResult, ErrorBody, ImportRowError } from '@doorstep/proto'
import mqtt from 'mqtt'
import { z } from 'zod'
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js'
import { type PlannedUnit, toDeviceCreate } from './fleet-plan.js'

/**
 * Device secrets for the simulated fleet: provisioned through the gateway's
 * import API, or read back from the file a previous run wrote. Secrets are
 * shown by the gateway once only, so the file is the sole copy: written
 * atomically, mode 0600, and never printed.
 */
export interface CredentialsOptions {
  /** Gateway HTTP base URL, e.g. http://127.0.0.1:8080 */
  httpUrl: string
  /** Admin (or ops) bearer token; needed only when something must be provisioned. */
  adminToken?: string | undefined
  /** Directory of credentials files; default `.doorstep-sim`. */
  dir?: string
  /** Exact file; overrides `dir`. */
  file?: string
  /** Rows per import request, ≤ 1000. */
  chunkSize?: number
  log?: (line: string) => void
}

export interface Credentials {
  file: string
  /** Device id → secret. */
  secrets: Map<string, string>
  reused: number
  provisioned: number
}

export class ProvisionError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  constructor(message: string, status?: number, code?: string) {
    super(message)
    this.name = 'ProvisionError'
    this.status = status
    this.code = code
  }
}

const DEFAULT_CREDENTIALS_DIR = '.doorstep-sim'
const MAX_CHUNK = 1000

const CredentialsFileSchema = z.object({
  v: z.literal(1),
  gateway: z.string(),
  devices: z.record(z.string(), z.string().min(1)),
})

/** `credentials-<host>-<port>.json`: one file per gateway, so two gateways never share secrets. */
export function credentialsFile(httpUrl: string, dir = DEFAULT_CREDENTIALS_DIR): string {
  const u = new URL(httpUrl)
  const port = u.port || (u.protocol === 'https:' ? '443' : '80')
  const host = u.hostname.replace(/[^A-Za-z0-9.-]/g, '_')
  return path.resolve(dir, `credentials-${host}-${port}.json`)
}

/** The saved secrets, or null when there is no usable file. */
function readCredentialsFile(file: string): Map<string, string> | null {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return null
  }
  let parsed: z.infer<typeof CredentialsFileSchema>
  try {
    parsed = CredentialsFileSchema.parse(JSON.parse(text))
  } catch {
    return null
  }
  // Tighten a file someone loosened: it holds every unit's secret.
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600)
  return new Map(Object.entries(parsed.devices))
}

function writeCredentialsFile(file: string, httpUrl: string, secrets: ReadonlyMap<string, string>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const body = JSON.stringify({
    v: 1,
    gateway: httpUrl,
    savedAt: new Date().toISOString(),
    devices: Object.fromEntries(secrets),
  })
  // Write beside it and rename: a crash mid-write must not lose the only copy of the secrets.
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, body, { mode: 0o600 })
  fs.chmodSync(tmp, 0o600)
  fs.renameSync(tmp, file)
}

/** One import request (all-or-nothing on the gateway). */
async function importChunk(
  httpUrl: string,
  token: string,
  units: readonly PlannedUnit[],
): Promise<Array<{ id: string; secret: string }>> {
  const url = new URL('/api/v1/devices/import', httpUrl)
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(units.map(toDeviceCreate)),
      signal: AbortSignal.timeout(120_000),
    })
  } catch (err) {
    // fetch says only "fetch failed"; the cause (ECONNREFUSED, ...) is what helps.
    const cause = (err as { cause?: { code?: unknown } }).cause?.code
    throw new ProvisionError(
      `cannot reach the gateway at ${url.origin}: ${typeof cause === 'string' ? cause : (err as Error).message}`,
    )
  }
  const body: unknown = await res.json().catch(() => null)
  if (res.status === 201) {
    const ok = DeviceImportResult.safeParse(body)
    if (!ok.success)
      throw new ProvisionError('the import answer is not {created: [{id, secret}]}', res.status)
    return ok.data.created
  }
  const err = ErrorBody.safeParse(body)
  const code = err.success ? err.data.error.code : undefined
  if (res.status === 401 || res.status === 403) {
    throw new ProvisionError(
      `the gateway refused the admin token (HTTP ${res.status}${code ? ` ${code}` : ''})`,
      res.status,
      code,
    )
  }
  if (res.status === 422 && err.success) throw importRefusal(units, err.data.error.details, res.status, code)
  throw new ProvisionError(
    `device import failed: HTTP ${res.status}${code ? ` ${code}` : ''}${err.success ? `: ${err.data.error.message}` : ''}`,
    res.status,
    code,
  )
}

/** Turns 422 row errors into one sentence that says what to do. */
function importRefusal(
  units: readonly PlannedUnit[],
  details: unknown,
  status: number,
  code: string | undefined,
): ProvisionError {
  const rows = z.object({ errors: z.array(ImportRowError) }).safeParse(details)
  const errors = rows.success ? rows.data.errors : []
  const taken = errors.filter((e) => /already exists/.test(e.message))
  if (taken.length > 0 && taken.length === errors.length) {
    const example = units[taken[0]?.row ?? 0]?.id ?? '?'
    // Counted by row: a unit whose id and serial are both taken has two errors.
    const count = new Set(taken.map((e) => e.row)).size
    return new ProvisionError(
      `the gateway already has ${count} of these units (e.g. ${example}) but their secrets are not saved here; ` +
        'run with another --id-prefix (and --seed) or reset the gateway data',
      status,
      code,
    )
  }
  const first = errors[0]
  const where = first
    ? ` (row ${first.row} ${units[first.row]?.id ?? ''} field ${first.field}: ${first.message})`
    : ''
  return new ProvisionError(
    `the gateway refused the import: ${errors.length} row error(s)${where}`,
    status,
    code,
  )
}

/**
 * Secrets for every planned unit: those in the file are reused, the rest
 * are imported in chunks (the file is updated after each, so a failure half
 * way loses nothing already created).
 */
export async function loadOrProvision(
  plan: readonly PlannedUnit[],
  opts: CredentialsOptions,
): Promise<Credentials> {
  const file = opts.file ?? credentialsFile(opts.httpUrl, opts.dir)
  const log = opts.log ?? (() => {})
  const saved = readCredentialsFile(file) ?? new Map<string, string>()
  const missing = plan.filter((u) => !saved.has(u.id))
  const reused = plan.length - missing.length
  if (reused > 0) log(`reusing credentials of ${reused} units from ${file}`)
  if (missing.length > 0) {
    if (!opts.adminToken) {
      throw new ProvisionError(
        `${missing.length} units need provisioning: pass an admin token (--token or DOORSTEP_ADMIN_TOKEN)`,
      )
    }
    const size = Math.min(MAX_CHUNK, Math.max(1, opts.chunkSize ?? MAX_CHUNK))
    for (let i = 0; i < missing.length; i += size) {
      const chunk = missing.slice(i, i + size)
      const created = await importChunk(opts.httpUrl, opts.adminToken, chunk)
      for (const c of created) saved.set(c.id, c.secret)
      writeCredentialsFile(file, opts.httpUrl, saved)
      log(`provisioned ${Math.min(i + size, missing.length)}/${missing.length} units`)
    }
  }
  const secrets = new Map<string, string>()
  for (const u of plan) {
    const s = saved.get(u.id)
    if (s === undefined) throw new ProvisionError(`the gateway created no secret for ${u.id}`)
    secrets.set(u.id, s)
  }
  return { file, secrets, reused, provisioned: missing.length }
}

/**
 * Connects once as one unit and returns the CONNACK return code (0 accepted).
 * A persistent session (clean: false) so a probe does not wipe commands
 * waiting for the real unit. Throws when the broker cannot be reached.
 */
export function probeCredentials(
  mqttUrl: string,
  id: string,
  secret: string,
  timeoutMs = 10_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(mqttUrl, {
      clientId: id,
      username: id,
      password: secret,
      protocolVersion: 4,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
    })
    let settled = false
    const done = (fn: () => void) => {
      if (settled) return
      settled = true
      fn()
    }
    client.once('connect', () => done(() => client.end(false, {}, () => resolve(0))))
    client.on('error', (err) => {
      const code = (err as { code?: unknown }).code
      done(() => {
        client.end(true)
        if (typeof code === 'number') resolve(code)
        else reject(new ProvisionError(`cannot reach the MQTT broker at ${mqttUrl}: ${err.message}`))
      })
    })
    client.once('close', () =>
      done(() => reject(new ProvisionError(`the MQTT broker at ${mqttUrl} closed the connection`))),
    )
  })
}

const CONNACK_TEXT: Record<number, string> = {
  2: 'identifier rejected',
  4: 'bad user name or password',
  5: 'not authorized',
}

/** Probes one unit, retrying CONNACK 3 (admission limit) with backoff a bounded number of times. */
async function probeSettled(mqttUrl: string, id: string, secret: string): Promise<number> {
  let code = 3
  for (let attempt = 0; attempt < 8 && code === 3; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 100 + backoffDelay(attempt, DEFAULT_BACKOFF)))
    code = await probeCredentials(mqttUrl, id, secret)
  }
  return code
}

/**
 * Checks the saved secrets with real connections BEFORE provisioning
 * anything, then loadOrProvision. A gateway whose data was reset answers
 * CONNACK 4 for every saved unit: the file is stale, so it is set aside
 * (renamed `.stale`, never deleted: a wrong guess must not lose the only copy
 * of secrets) and every unit is provisioned afresh. Checking first matters:
 * provisioning the new units before noticing would create ids that the
 * fresh import of all units then collides with.
 */
export async function ensureCredentials(
  plan: readonly PlannedUnit[],
  opts: CredentialsOptions & { mqttUrl: string },
): Promise<Credentials> {
  const log = opts.log ?? (() => {})
  const file = opts.file ?? credentialsFile(opts.httpUrl, opts.dir)
  const saved = readCredentialsFile(file)
  const known = saved ? plan.filter((u) => saved.has(u.id)) : []
  const first = known[0]
  if (!saved || !first) return loadOrProvision(plan, { ...opts, file })

  const code = await probeSettled(opts.mqttUrl, first.id, saved.get(first.id) ?? '')
  if (code === 2 || code === 5) {
    // Known but refused (disabled, or an id the gateway will not take): provisioning again cannot help.
    log(
      `the gateway refused ${first.id} (CONNACK ${code}: ${CONNACK_TEXT[code]}); units like it will not connect`,
    )
  }
  // One refused unit may have been deleted on purpose; a reset refuses the last one too.
  const last = known[known.length - 1]
  const reset =
    code === 4 &&
    (last === undefined ||
      last === first ||
      (await probeSettled(opts.mqttUrl, last.id, saved.get(last.id) ?? '')) === 4)
  if (!reset) return loadOrProvision(plan, { ...opts, file })

  const stale = `${file}.stale`
  fs.renameSync(file, stale)
  log(
    `the gateway refused the saved credentials of ${first.id}${last && last !== first ? ` and ${last.id}` : ''} ` +
      `(CONNACK 4: ${CONNACK_TEXT[4]}): it no longer knows the units saved for it (was its data reset?); ` +
      `the file is set aside as ${stale}; provisioning all ${plan.length} units again`,
  )
  const fresh = await loadOrProvision(plan, { ...opts, file })
  return { ...fresh, reused: 0 }
}
