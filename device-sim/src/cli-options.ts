import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { splitGatewayList } from './gateway-list.js'
import { SourceNetText } from './source-address.js'

/**
 * The simulator's command line: node's parseArgs for the syntax, one zod
 * schema for the meaning. Problems come back as one line naming the flag.
 */
const FLAGS = {
  devices: { type: 'string' },
  gateway: { type: 'string', multiple: true },
  http: { type: 'string' },
  alerts: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  'heartbeat-s': { type: 'string' },
  'event-rate': { type: 'string' },
  'duration-s': { type: 'string' },
  'bad-rate': { type: 'string' },
  'power-cut-at-s': { type: 'string' },
  'power-cut-share': { type: 'string' },
  'power-cut-outage-s': { type: 'string' },
  'disconnects-per-hour': { type: 'string' },
  'clock-skew-share': { type: 'string' },
  'slow-share': { type: 'string' },
  'config-refuse-share': { type: 'string' },
  'connect-rate': { type: 'string' },
  'source-net': { type: 'string' },
  seed: { type: 'string' },
  'id-prefix': { type: 'string' },
  'credentials-dir': { type: 'string' },
  'clip-dir': { type: 'string' },
  'upload-on-end': { type: 'boolean' },
  'no-alerts': { type: 'boolean' },
  influx: { type: 'string' },
  'influx-db': { type: 'string' },
  'report-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const num = (min: number, max: number) => z.coerce.number().min(min).max(max)
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })

const Schema = z.object({
  devices: num(1, 100_000).int().default(2896),
  /** One gateway, or several: unit i connects to URL i mod n first, the next one after a failed connect. */
  gateway: z
    .array(z.string().regex(/^(mqtts?|tcp):\/\/[^\s,]+$/, 'must be an mqtt:// or mqtts:// URL'))
    .min(1, 'needs at least one URL')
    .max(1000)
    .default(['mqtt://127.0.0.1:1883']),
  http: httpUrl.default('http://127.0.0.1:8080'),
  /** Whose alert feed to watch, when not --http's: in a cluster, any gateway sees every unit's alerts. */
  alerts: httpUrl.optional(),
  token: z.string().min(16, 'must be at least 16 characters').optional(),
  /** A CA certificate (PEM) to trust for mqtts:// and https://, e.g. a self-signed gateway's. */
  ca: z
    .string()
    .min(1)
    .refine((f) => fs.existsSync(f), 'no such file')
    .transform((f) => path.resolve(f))
    .optional(),
  'heartbeat-s': num(0.1, 3600).default(30),
  'event-rate': num(0, 100_000).default(1),
  'duration-s': num(1, 30 * 86_400).optional(),
  'bad-rate': num(0, 1).default(0),
  'power-cut-at-s': num(0, 30 * 86_400).optional(),
  'power-cut-share': num(0, 1).default(0.5),
  'power-cut-outage-s': num(0, 3600).default(5),
  'disconnects-per-hour': num(0, 3600).default(0),
  'clock-skew-share': num(0, 1).default(0),
  'slow-share': num(0, 1).default(0),
  'config-refuse-share': num(0, 1).default(0),
  'connect-rate': num(1, 100_000).default(200),
  'source-net': SourceNetText.optional(),
  seed: num(0, 2 ** 32 - 1)
    .int()
    .optional(),
  'id-prefix': z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, "-" or "_"')
    .default('cam-'),
  'credentials-dir': z.string().min(1).optional(),
  'clip-dir': z.string().min(1).optional(),
  'upload-on-end': z.boolean().default(false),
  'no-alerts': z.boolean().default(false),
  influx: httpUrl.optional(),
  'influx-db': z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/)
    .default('doorstep'),
  'report-file': z.string().min(1).optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
})

export type CliOptions = z.infer<typeof Schema>

export const USAGE = `usage: npm run sim -- [options]
  --devices N              units to simulate (2896)
  --gateway URL            MQTT broker, mqtt:// or mqtts:// (mqtt://127.0.0.1:1883); give it again or a
                           comma list for several gateways: unit i connects to URL i mod n, and to the
                           next one in the list when a connect fails
  --http URL               gateway HTTP(S), for provisioning and uploads (http://127.0.0.1:8080)
  --alerts URL             watch this gateway's alert feed (default: --http's); in a cluster, another node
  --ca FILE                trust this CA certificate (PEM) for mqtts:// and https:// URLs
  --token T                admin token (default: env DOORSTEP_ADMIN_TOKEN)
  --heartbeat-s S          mean heartbeat interval (30)
  --event-rate X           multiplier on day/night detection rates (1; 0 = none)
  --duration-s S           stop after S seconds (default: until Ctrl-C)
  --bad-rate P             share of payloads sent bad (0)
  --power-cut-at-s S       cut the power of --power-cut-share (0.5) units at S, for --power-cut-outage-s (5)
  --disconnects-per-hour N random link drops per unit per hour (0)
  --clock-skew-share P     share of units with a wrong clock (0)
  --slow-share P           share of units on a slow uplink (0)
  --config-refuse-share P  share of units that refuse every remote configuration (0)
  --connect-rate N         units started per second during ramp-up (200)
  --source-net CIDR        connect from addresses in this loopback block, one per unit in turn
                           (e.g. 127.16.0.0/12; for more units than 127.0.0.1 has ephemeral ports)
  --seed N, --id-prefix P  fleet layout and ids (cam-)
  --credentials-dir D      where secrets are kept (.doorstep-sim)
  --clip-dir D             clip cache (.doorstep-sim/clips)
  --upload-on-end          upload each event's clip
  --no-alerts              do not watch the alert feed
  --influx URL             verify heartbeats in InfluxDB 1.x; --influx-db (doorstep)
  --report-file F          write the report as JSON; --json prints JSON instead of the table`

export class CliError extends Error {}

/** Parses argv (without node and script). Throws CliError with a one-line message. */
export function parseCli(argv: readonly string[], env: Record<string, string | undefined>): CliOptions {
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new CliError((err as Error).message.split('\n')[0] ?? 'invalid arguments')
  }
  const token = values.token ?? env.DOORSTEP_ADMIN_TOKEN
  const gateways = values.gateway
  const gateway = Array.isArray(gateways) ? splitGatewayList(gateways) : undefined
  const parsed = Schema.safeParse({ ...values, ...(token ? { token } : {}), ...(gateway ? { gateway } : {}) })
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    const flag = i?.path[0] === undefined ? '' : `--${String(i.path[0])}: `
    // Never echo the value: it may be the token.
    throw new CliError(`${flag}${i?.message ?? 'invalid'}`)
  }
  return parsed.data
}
