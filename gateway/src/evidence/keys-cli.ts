import fs from 'node:fs'
import type { EvidenceKey } from '@doorstep/proto'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import { EvidenceKeyring, evidenceDir, readRing } from './keys.js'

const KEYS_USAGE = `doorstep keys [--data-dir DIR] [--json]      the evidence signing keys: fingerprint, state, PEM
doorstep keys rotate [--data-dir DIR]          a new signing key (restart the gateway to use it);
                                               the old public key is kept, so what it signed still verifies

DIR defaults to $DOORSTEP_DATA_DIR or ./data. The same list is served at GET /api/v1/evidence/keys.
`

function show(keys: readonly EvidenceKey[], io: CliIo): void {
  for (const k of keys) {
    io.out(
      `${k.state === 'current' ? 'current' : 'retired'}  Ed25519  ${k.fingerprint}  since ${new Date(k.createdAt).toISOString()}\n`,
    )
  }
  const cur = keys.find((k) => k.state === 'current')
  if (cur)
    io.out(
      `\ncurrent public key (give it, or its fingerprint, to whoever verifies exports):\n${cur.publicKey}`,
    )
}

/** `doorstep keys …`: shows the evidence keys from the data dir, or rotates the generated one. */
export async function runKeysCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs(
    'keys',
    KEYS_USAGE,
    argv,
    { 'data-dir': { type: 'string' }, json: { type: 'boolean' } },
    io,
  )
  if (!args.ok) return args.exit
  const { values, positionals } = args
  const dataDir = dataDirOf(values['data-dir'], env)
  const [command] = positionals
  try {
    if (command === 'rotate') {
      if (!fs.existsSync(dataDir)) {
        io.err(`doorstep keys: no data dir at ${dataDir}\n`)
        return 2
      }
      const ring = new EvidenceKeyring({ dataDir, keyFile: env.DOORSTEP_EVIDENCE_KEY_FILE })
      ring.load()
      const k = ring.rotate()
      io.out(`new evidence key ${k.fingerprint}; restart the gateway to sign with it\n`)
      return 0
    }
    if (command !== undefined) {
      io.err(`doorstep keys: unknown command "${command}"\n\n${KEYS_USAGE}`)
      return 2
    }
    const keys = readRing(evidenceDir(dataDir))
    if (keys.length === 0) {
      io.err(`doorstep keys: no evidence keys in ${dataDir} (start the gateway once, or pass --data-dir)\n`)
      return 2
    }
    if (values.json) io.out(`${JSON.stringify({ keys }, null, 2)}\n`)
    else show(keys, io)
    return 0
  } catch (err) {
    io.err(`doorstep keys: ${(err as Error).message}\n`)
    return 1
  }
}
