import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import { openPostgres, postgresTarget, sqliteSharedDb } from '../db/index.js'
import { isDoorstepError } from '../errors.js'
import { createLogger } from '../log.js'
import { copyClips } from './clips-copy.js'

const CLIPS_USAGE = `doorstep clips copy [--to URL] [--data-dir DIR] [--shared-dir DIR] [--node ID]

  copy      copy the clips a gateway stored while it ran alone (its SQLite file and clips/ in DIR,
            default: $DOORSTEP_DATA_DIR or ./data) into the PostgreSQL at URL (default:
            $DOORSTEP_DATABASE_URL) and the directory the gateways share (default:
            $DOORSTEP_SHARED_DIR): each clip's file, checked against its sha256, and thumbnail, then
            its row; the record of deleted clips; every hold. What is there already is left as it
            is, so it can be run again, and once from each gateway's data dir. The copied clips are
            recorded as the gateway's (--node, default: $DOORSTEP_NODE_ID). A stored clip whose file
            is missing or changed is not copied and is listed (exit 1).
`

const OPTIONS = {
  to: { type: 'string' },
  'data-dir': { type: 'string' },
  'shared-dir': { type: 'string' },
  node: { type: 'string' },
} as const

/** `doorstep clips …`. Returns the exit code. */
export async function runClipsCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs('clips', CLIPS_USAGE, argv, OPTIONS, io)
  if (!args.ok) return args.exit
  const [command, ...rest] = args.positionals
  if (command !== 'copy' || rest.length > 0) {
    io.err(CLIPS_USAGE)
    return 2
  }
  const url = args.values.to ?? env.DOORSTEP_DATABASE_URL
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    io.err(
      'doorstep clips copy: give the PostgreSQL to copy into: --to postgres://… or DOORSTEP_DATABASE_URL\n',
    )
    return 2
  }
  const sharedDir = args.values['shared-dir'] ?? env.DOORSTEP_SHARED_DIR
  if (!sharedDir) {
    io.err(
      'doorstep clips copy: give the directory the gateways share: --shared-dir DIR or DOORSTEP_SHARED_DIR\n',
    )
    return 2
  }
  const dataDir = dataDirOf(args.values['data-dir'], env)
  const file = path.join(dataDir, 'doorstep.db')
  if (!fs.existsSync(file)) {
    io.err(`doorstep clips copy: no gateway database at ${file} (pass --data-dir)\n`)
    return 2
  }
  const fromDir = path.resolve(dataDir, 'clips')
  const toDir = path.resolve(sharedDir, 'clips')
  if (fromDir === toDir) {
    io.err(
      'doorstep clips copy: the shared directory is the data dir; there is nothing to copy the files to\n',
    )
    return 2
  }
  // Read only: the gateway may still be running on it.
  const db = new Database(file, { readonly: true, fileMustExist: true })
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'clips'").get()
  if (!hasTable) {
    db.close()
    io.err(`doorstep clips copy: ${file} has no clips table\n`)
    return 2
  }
  let target: Awaited<ReturnType<typeof openPostgres>>
  try {
    target = await openPostgres({ url, nodeId: 'clips-copy', log: createLogger('silent') })
  } catch (err) {
    db.close()
    if (!isDoorstepError(err)) throw err
    io.err(`doorstep clips copy: ${err.code}: ${err.message}\n`)
    return 1
  }
  try {
    let shown = 0
    const r = await copyClips({
      from: sqliteSharedDb(db),
      fromDir,
      to: target,
      toDir,
      node: args.values.node ?? env.DOORSTEP_NODE_ID ?? 'clips-copy',
      progress: (done, total) => {
        // A line per tenth of a big store, not per clip.
        if (total >= 1000 && done - shown >= total / 10) {
          shown = done
          io.out(`  ${done} of ${total} clips\n`)
        }
      },
    })
    io.out(
      `copied ${r.copied} of ${r.total} clips (${r.files} files) and ${r.holds} holds into ${postgresTarget(url)} and ${toDir}` +
        `${r.present > 0 ? `; ${r.present} were there already` : ''}\n`,
    )
    if (r.unreadable.length === 0) return 0
    io.err(
      `not copied, ${r.unreadable.length} stored clips whose file is missing or not its content:\n` +
        `${r.unreadable.map((id) => `  event ${id}`).join('\n')}\n`,
    )
    return 1
  } finally {
    await target.close()
    db.close()
  }
}
