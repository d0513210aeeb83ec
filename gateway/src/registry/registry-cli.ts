import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import { openPostgres, postgresTarget, sqliteSharedDb } from '../db/index.js'
import { isDoorstepError } from '../errors.js'
import { createLogger } from '../log.js'
import { copyRegistry } from './stored-registry.js'

const REGISTRY_USAGE = `doorstep registry copy [--to URL] [--data-dir DIR]

  copy      copy every unit of the gateway's SQLite registry in DIR (default: $DOORSTEP_DATA_DIR or
            ./data), its secret with it, into the PostgreSQL at URL (default: $DOORSTEP_DATABASE_URL),
            which the gateways then share. No unit needs a new secret. Units already there are left
            as they are, so it can be run again, and once from each gateway's data dir. A unit whose
            serial another unit holds there is not copied and is listed (exit 1).
`

const OPTIONS = {
  to: { type: 'string' },
  'data-dir': { type: 'string' },
} as const

/** `doorstep registry …`. Returns the exit code. */
export async function runRegistryCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs('registry', REGISTRY_USAGE, argv, OPTIONS, io)
  if (!args.ok) return args.exit
  const [command, ...rest] = args.positionals
  if (command !== 'copy' || rest.length > 0) {
    io.err(REGISTRY_USAGE)
    return 2
  }
  const url = args.values.to ?? env.DOORSTEP_DATABASE_URL
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    io.err(
      'doorstep registry copy: give the PostgreSQL to copy into: --to postgres://… or DOORSTEP_DATABASE_URL\n',
    )
    return 2
  }
  const file = path.join(dataDirOf(args.values['data-dir'], env), 'doorstep.db')
  if (!fs.existsSync(file)) {
    io.err(`doorstep registry copy: no gateway database at ${file} (pass --data-dir)\n`)
    return 2
  }
  // Read only: the gateway may still be running on it.
  const db = new Database(file, { readonly: true, fileMustExist: true })
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'devices'").get()
  if (!hasTable) {
    db.close()
    io.err(`doorstep registry copy: ${file} has no device registry\n`)
    return 2
  }
  let target: Awaited<ReturnType<typeof openPostgres>>
  try {
    target = await openPostgres({ url, nodeId: 'registry-copy', log: createLogger('silent') })
  } catch (err) {
    db.close()
    if (!isDoorstepError(err)) throw err
    io.err(`doorstep registry copy: ${err.code}: ${err.message}\n`)
    return 1
  }
  try {
    let shown = 0
    const r = await copyRegistry(sqliteSharedDb(db), target, (done, total) => {
      // A line per tenth of a big fleet, not per chunk.
      if (total >= 5000 && done - shown >= total / 10) {
        shown = done
        io.out(`  ${done} of ${total} units\n`)
      }
    })
    io.out(
      `copied ${r.copied} of ${r.total} units into ${postgresTarget(url)}` +
        `${r.present > 0 ? `; ${r.present} were there already` : ''}\n`,
    )
    if (r.conflicts.length === 0) return 0
    io.err(
      `not copied, ${r.conflicts.length} units whose serial another unit holds there:\n` +
        `${r.conflicts.map((c) => `  ${c.id} (serial ${c.serial})`).join('\n')}\n`,
    )
    return 1
  } finally {
    await target.close()
    db.close()
  }
}
