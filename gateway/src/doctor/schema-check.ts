import fs from 'node:fs'
import path from 'node:path'
import { fmtBytes } from '../backup/index.js'
import { isDoorstepError } from '../errors.js'
import { POSTGRES_FEATURES, pendingRepage, pendingUpgrade, RELEASE } from '../upgrade/index.js'
import { type Finding, fail, ok, warn } from './check.js'
import type { Probes } from './probes.js'

const GOING_BACK = 'README "Upgrading, and going back"'

/**
 * The database against this release, as the next start will find it: a newer release's is
 * refused at start; an older one is backed up and upgraded, if there is room for the backup.
 */
export async function checkSchema(p: Probes, dataDir: string, sharedInPostgres = false): Promise<Finding> {
  let pending: Awaited<ReturnType<typeof pendingUpgrade>>
  try {
    // The features kept in a shared PostgreSQL have no tables in the file to compare.
    pending = await pendingUpgrade(dataDir, sharedInPostgres ? POSTGRES_FEATURES : [])
  } catch (err) {
    const message = (err as Error).message
    if (isDoorstepError(err) && err.code === 'DOORSTEP_ERR_DOWNGRADE_REFUSED') {
      return fail(
        'schema',
        message,
        `run the release that wrote it, or restore its pre-upgrade backup (${GOING_BACK})`,
      )
    }
    return fail('schema', `doorstep.db cannot be read: ${message}`, 'restore the data dir from a backup')
  }
  if (!pending) {
    return fs.existsSync(path.join(dataDir, 'doorstep.db'))
      ? ok('schema', `doorstep.db is at release ${RELEASE}'s schema`)
      : ok('schema', 'no database yet; made at first start')
  }
  const { freeBytes } = await p.statfs(pending.probeAt)
  const detail =
    `doorstep.db is at release ${pending.from}'s schema; the first start of ${RELEASE} backs it up into ` +
    `${pending.where} (needs ${fmtBytes(pending.needBytes)}, ${fmtBytes(freeBytes)} free) and upgrades it`
  if (freeBytes < pending.needBytes) {
    return fail(
      'schema',
      detail,
      `free ${fmtBytes(pending.needBytes - freeBytes)} there: the start is refused without it`,
    )
  }
  return warn('schema', detail, `take a full \`doorstep backup\` first too; going back later: ${GOING_BACK}`)
}

/** A database made with smaller pages by an earlier version: the next start copies it (and needs room for the copy). */
export async function checkPages(p: Probes, dataDir: string): Promise<Finding> {
  let pending: ReturnType<typeof pendingRepage>
  try {
    pending = pendingRepage(dataDir)
  } catch (err) {
    return fail(
      'pages',
      `doorstep.db cannot be read: ${(err as Error).message}`,
      'restore the data dir from a backup',
    )
  }
  if (!pending) return ok('pages', "doorstep.db has this release's page size, or is made at first start")
  const { freeBytes } = await p.statfs(dataDir)
  const detail =
    `doorstep.db has ${pending.from / 1024} KiB pages; the next start copies it to ${pending.to / 1024} KiB pages ` +
    `(${fmtBytes(pending.usedBytes)} to copy, needs ${fmtBytes(pending.needBytes)} free, ${fmtBytes(freeBytes)} free), ` +
    'logging its progress, and keeps the old file under upgrade-backups/'
  if (freeBytes < pending.needBytes)
    return warn(
      'pages',
      detail,
      `free ${fmtBytes(pending.needBytes - freeBytes)} in the data dir, or the gateway keeps running on the old pages (commits cost more)`,
    )
  return warn('pages', detail, 'expect the first start to take longer on a large database')
}
