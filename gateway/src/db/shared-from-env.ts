import { DoorstepError } from '../errors.js'
import { createLogger } from '../log.js'
import { openPostgres } from './postgres.js'
import { type SharedDb, sqliteSharedDb } from './shared-db.js'
import type { Db } from './sqlite.js'

/**
 * For a command run beside the gateways: the shared PostgreSQL when the environment names one
 * (`DOORSTEP_DATABASE_URL`, as the gateway reads it), else the gateway's own file through `db`.
 * `who` names the connection (`application_name`) for the database's operators.
 */
export async function sharedDbFromEnv(env: NodeJS.ProcessEnv, db: Db, who: string): Promise<SharedDb> {
  const url = env.DOORSTEP_DATABASE_URL
  if (!url) return sqliteSharedDb(db)
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new DoorstepError(
      'DOORSTEP_ERR_CONFIG',
      'DOORSTEP_DATABASE_URL must be a postgres:// or postgresql:// URL',
    )
  }
  return openPostgres({ url, nodeId: who, log: createLogger('silent') })
}
