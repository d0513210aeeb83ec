import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Role, TokenCreate } from '@doorstep/proto'
import { AuditLog } from '../audit/index.js'
import { TokenStore } from '../auth/index.js'
import { type CliIo, dataDirOf, parseCommandArgs } from '../cli-args.js'
import { openDb, type SharedDb, sharedDbFromEnv } from '../db/index.js'
import { isDoorstepError } from '../errors.js'
import { assertCurrent, POSTGRES_FEATURES } from '../upgrade/index.js'
import { issueToken, retireBootstrap, revokeToken } from './token-routes.js'

const TOKENS_USAGE = `doorstep tokens <command> [--data-dir DIR]

  list                                   tokens with id, name, role, owner contact, state
  issue --name NAME --role ROLE [--owner-contact CONTACT]
                                         issue a token; it is printed once, never stored
  revoke ID                              revoke a token at once
  retire-bootstrap                       ignore DOORSTEP_ADMIN_TOKEN from now on (needs an active
                                         stored admin token)

Works on the gateway's database in DIR (default: $DOORSTEP_DATA_DIR or ./data), also while the
gateway runs; with DOORSTEP_DATABASE_URL set (as for the gateways), on the tokens the gateways share
in that PostgreSQL, the audit record still in DIR. Roles: ${Role.options.join(', ')}. Issue and revoke go on the audit log as cli:<user>.
`

/** `doorstep tokens …`: token management on the gateway host. Returns the exit code. */
export async function runTokensCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = parseCommandArgs('tokens', TOKENS_USAGE, argv, OPTIONS, io)
  if (!args.ok) return args.exit
  const { values, positionals } = args
  const [command, ...rest] = positionals
  if (!command) {
    io.out(TOKENS_USAGE)
    return 2
  }
  const dataDir = dataDirOf(values['data-dir'], env)
  const file = path.join(dataDir, 'doorstep.db')
  if (!fs.existsSync(file)) {
    io.err(`doorstep tokens: no gateway database at ${file} (start the gateway once, or pass --data-dir)\n`)
    return 2
  }
  // Its features migrate as they open, so an older database would be changed without the gateway's
  // pre-upgrade backup, and a newer one written by code that does not know its schema.
  try {
    await assertCurrent(dataDir, env.DOORSTEP_DATABASE_URL ? POSTGRES_FEATURES : [])
  } catch (err) {
    if (!isDoorstepError(err)) throw err
    io.err(`doorstep tokens: ${err.code}: ${err.message}\n`)
    return 1
  }
  const db = openDb(file)
  let shared: SharedDb
  try {
    shared = await sharedDbFromEnv(env, db, 'tokens-cli')
  } catch (err) {
    db.close()
    if (!isDoorstepError(err)) throw err
    io.err(`doorstep tokens: ${err.code}: ${err.message}\n`)
    return 1
  }
  try {
    const tokens = new TokenStore(shared)
    await tokens.load()
    // Where the gateways keep it: their shared PostgreSQL, or this gateway's own file.
    const audit = new AuditLog({ shared })
    await audit.start()
    const actor = `cli:${os.userInfo().username}`
    switch (command) {
      case 'list': {
        const rows = await tokens.list()
        if (values.json) io.out(`${JSON.stringify(rows, null, 2)}\n`)
        else {
          io.out('id\tstate\trole\tname\towner contact\n')
          for (const t of rows) {
            io.out(
              `${t.id}\t${t.revokedAt ? 'revoked' : 'active'}\t${t.role}\t${t.name}\t${t.ownerContact ?? ''}\n`,
            )
          }
        }
        return 0
      }
      case 'issue': {
        const body = TokenCreate.safeParse({
          name: values.name,
          role: values.role,
          ownerContact: values['owner-contact'],
        })
        if (!body.success) {
          for (const i of body.error.issues)
            io.err(`doorstep tokens issue: --${flagOf(i.path)}: ${i.message}\n`)
          return 2
        }
        const issued = await issueToken(tokens, audit, body.data, actor)
        if (values.json) io.out(`${JSON.stringify(issued, null, 2)}\n`)
        else {
          io.out(`issued token ${issued.id} (${issued.role}) for ${issued.name}\n`)
          io.out(`token (shown once, store it now): ${issued.token}\n`)
        }
        return 0
      }
      case 'revoke': {
        const id = Number(rest[0])
        if (!Number.isInteger(id) || id <= 0) {
          io.err('doorstep tokens revoke: give the token id (see `doorstep tokens list`)\n')
          return 2
        }
        const t = await revokeToken(tokens, audit, id, actor)
        io.out(`token ${t.id} (${t.name}) revoked\n`)
        return 0
      }
      case 'retire-bootstrap': {
        const { retiredAt } = await retireBootstrap(tokens, audit, actor)
        io.out(`bootstrap admin token retired (since ${new Date(retiredAt).toISOString()})\n`)
        return 0
      }
      default:
        io.err(`doorstep tokens: unknown command "${command}"\n\n${TOKENS_USAGE}`)
        return 2
    }
  } catch (err) {
    io.err(
      `doorstep tokens: ${isDoorstepError(err) ? `${err.code}: ${err.message}` : (err as Error).message}\n`,
    )
    return 1
  } finally {
    await shared.close()
    db.close()
  }
}

const OPTIONS = {
  'data-dir': { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  'owner-contact': { type: 'string' },
  json: { type: 'boolean' },
} as const

function flagOf(p: ReadonlyArray<PropertyKey>): string {
  const k = String(p[0] ?? 'input')
  return k === 'ownerContact' ? 'owner-contact' : k
}
