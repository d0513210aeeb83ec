import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import type { Config } from '../config.js'

/**
 * What a running gateway tells `doorstep backup`, which runs in another
 * process: the config it runs with (secrets left out) and where its managed
 * influxd listens. Written at every start, after InfluxDB is up.
 */
export const RUN_STATE_FILE = 'gateway-run.json'

export const RunState = z.object({
  v: z.literal(1),
  pid: z.number().int(),
  startedAt: z.string(),
  /** Set by a graceful stop: the config stays on record for a backup of the stopped gateway. */
  stoppedAt: z.string().optional(),
  /** The effective config, with every secret-bearing field removed (see `redact`). */
  config: z.record(z.string(), z.unknown()),
  influx: z.object({
    managed: z.boolean(),
    url: z.string(),
    db: z.string(),
    /** `host:port` of the managed influxd's RPC listener; null for an external InfluxDB. */
    rpcAddress: z.string().nullable(),
    bin: z.string(),
  }),
})
export type RunState = z.infer<typeof RunState>

/** Field names that hold a secret rather than a setting: never written out. */
const SECRET_KEY = /token|secret|password/i

/** The config as plain data without its secrets (the admin token), for the state file and backups. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (!SECRET_KEY.test(k)) out[k] = redact(v)
    return out
  }
  return value
}

export async function writeRunState(
  config: Readonly<Config>,
  influx: { url: string; rpcAddress: string | null },
): Promise<void> {
  const state: RunState = {
    v: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    config: redact(config) as Record<string, unknown>,
    influx: {
      managed: config.influx.url === undefined,
      url: influx.url,
      db: config.influx.db,
      rpcAddress: influx.rpcAddress,
      bin: config.influx.influxdBin,
    },
  }
  await writeState(config.dataDir, state)
}

async function writeState(dataDir: string, state: RunState): Promise<void> {
  const file = path.join(dataDir, RUN_STATE_FILE)
  const tmp = `${file}.tmp-${process.pid}`
  await fsp.writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`)
  await fsp.rename(tmp, file)
}

/** The state file, or null when there is none or it does not parse (a gateway of an older version). */
export function readRunState(dataDir: string): RunState | null {
  try {
    const parsed = RunState.safeParse(JSON.parse(fs.readFileSync(path.join(dataDir, RUN_STATE_FILE), 'utf8')))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}

/** Whether the gateway runs: not stopped, and its process alive (one that died leaves its file behind). */
export function isRunning(state: RunState): boolean {
  if (state.stoppedAt !== undefined) return false
  try {
    process.kill(state.pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * A gateway that stops says so, keeping its config on record: a backup of the data dir then knows
 * that nothing runs there and takes the config from its last start.
 */
export async function markStopped(dataDir: string): Promise<void> {
  const state = readRunState(dataDir)
  if (!state || state.pid !== process.pid) return
  await writeState(dataDir, { ...state, stoppedAt: new Date().toISOString() })
}
