import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { backupDatabases, DATABASES, databaseBytes, fmtBytes } from '../backup/index.js'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import { type DatabaseState, type Drift, plan, readState } from './plan.js'
import { RELEASE, UNRECORDED_RELEASE } from './release.js'

/** Where pre-upgrade backups go, under the data dir. */
export const UPGRADE_BACKUPS = 'upgrade-backups'

/** Free bytes for an unprivileged writer on the file system holding `dir`. */
export type FreeSpace = (dir: string) => Promise<number>

/** Free space as statfs reports it: the default where no `FreeSpace` is given. */
export const statfsFree: FreeSpace = async (dir) => {
  const s = await fsp.statfs(dir)
  return s.bavail * s.bsize
}

/**
 * Room asked for a backup of `bytes` of databases: the snapshot is at most their size, and a
 * margin (a tenth, at least 64 MiB) leaves the migrations and the gateway's first writes room.
 */
export function roomNeeded(bytes: number): number {
  return bytes + Math.max(Math.ceil(bytes / 10), 64 * 1024 * 1024)
}

export interface UpgradeOptions {
  dataDir: string
  /** Recorded in the backup's manifest, for restore's report. */
  influxDb: string
  log: Logger
  freeSpace?: FreeSpace | undefined
  /** Features whose tables live in a shared PostgreSQL, not in these files: not compared here. */
  elsewhere?: readonly string[] | undefined
}

/** An upgrade the next start will make: from which release, which features, and the room its backup needs. */
export interface PendingUpgrade {
  from: string
  to: string
  databases: Array<{ file: string; behind: Drift[] }>
  /** Where the backups go (`<dataDir>/upgrade-backups`). */
  where: string
  /** Where to measure the free space: that folder once it exists, the data dir before. */
  probeAt: string
  needBytes: number
}

/** An upgrade under way, and where its backup is. */
export interface Upgrade extends PendingUpgrade {
  backup: string
}

/**
 * What the next start will do with the data dir's databases, without doing it: null when they are
 * new or this release's; throws `DOORSTEP_ERR_DOWNGRADE_REFUSED` as the start would when one is a
 * newer release's. Reads only (`doorstep doctor` asks it too).
 */
export async function pendingUpgrade(
  dataDir: string,
  elsewhere: readonly string[] = [],
): Promise<PendingUpgrade | null> {
  const behind = await inspect(dataDir, elsewhere)
  const first = behind[0]
  if (!first) return null
  const where = path.join(dataDir, UPGRADE_BACKUPS)
  return {
    from: first.state.release ?? UNRECORDED_RELEASE,
    to: RELEASE,
    databases: behind.map((b) => ({ file: b.file, behind: b.behind })),
    where,
    // The folder may be a mount of its own; before the first upgrade it is on the data dir's.
    probeAt: fs.existsSync(where) ? where : dataDir,
    needBytes: roomNeeded(databaseBytes(dataDir)),
  }
}

/**
 * Run at start before any feature opens a database. Reads each database the gateway owns, read
 * only, and compares its per-feature versions with this release's:
 * - any feature ahead (a newer release wrote it): refused, `DOORSTEP_ERR_DOWNGRADE_REFUSED`,
 *   nothing touched;
 * - any behind (and the database not new): a backup of the databases first, into
 *   `<dataDir>/upgrade-backups/<from>-to-<to>-<time>/`, once free space is checked
 *   (`DOORSTEP_ERR_UPGRADE_NO_ROOM` otherwise); the features then migrate as they start.
 * Returns the upgrade begun, or null when there is none.
 */
export async function prepareUpgrade(o: UpgradeOptions): Promise<Upgrade | null> {
  const p = await pendingUpgrade(o.dataDir, o.elsewhere)
  if (!p) return null
  const { from, where, needBytes: need } = p
  const free = await (o.freeSpace ?? statfsFree)(p.probeAt)
  if (free < need) {
    throw new DoorstepError(
      'DOORSTEP_ERR_UPGRADE_NO_ROOM',
      `no room to back up the databases before upgrading them from ${from} to ${RELEASE}: ` +
        `the backup needs ${fmtBytes(need)} free in ${where} (the databases and a margin), ` +
        `and ${fmtBytes(free)} is free there. Nothing was changed; free some space and start again.`,
      { from, to: RELEASE, where, needBytes: need, freeBytes: free },
    )
  }
  const stamp = new Date().toISOString().replace(/[-:.]/g, '')
  const dir = path.join(where, `${from}-to-${RELEASE}-${stamp}`)
  o.log.info(
    {
      from,
      to: RELEASE,
      databases: p.databases.map((d) => ({
        file: d.file,
        features: d.behind.map((x) => `${x.feature} ${x.database}→${x.release}`).join(', '),
      })),
      backup: dir,
    },
    'upgrading the databases: backing them up first',
  )
  try {
    const r = await backupDatabases({
      dataDir: o.dataDir,
      to: dir,
      influxDb: o.influxDb,
      note: `taken by the gateway before upgrading its databases from ${from} to ${RELEASE}: the databases alone`,
    })
    o.log.info(
      { backup: dir, files: r.manifest.files.length, bytes: r.bytes },
      'pre-upgrade backup taken; migrating',
    )
  } catch (err) {
    // Half a backup is no backup: leave none, and start nothing on the old databases.
    await fsp.rm(dir, { recursive: true, force: true })
    throw err
  }
  return { ...p, backup: dir }
}

/**
 * For a command that writes the gateway's database beside it (`doorstep tokens`): the databases
 * must be this release's. A newer one is refused as at start; an older one is left for the
 * gateway to upgrade, since only the gateway backs it up first.
 */
export async function assertCurrent(dataDir: string, elsewhere: readonly string[] = []): Promise<void> {
  // The release is recorded only once every feature has migrated: then there is nothing to compare.
  const state = readState(path.join(dataDir, 'doorstep.db'))
  if (state === null || state.release === RELEASE) return
  const first = (await inspect(dataDir, elsewhere))[0]
  if (!first) return
  throw new DoorstepError(
    'DOORSTEP_ERR_UPGRADE_PENDING',
    `${first.file} is still at release ${first.state.release ?? UNRECORDED_RELEASE}'s schema ` +
      `(${first.behind.map((d) => `${d.feature} ${d.database}, ${RELEASE} has ${d.release}`).join('; ')}). ` +
      `Start the ${RELEASE} gateway once to upgrade it (it backs the databases up first), then run this again. ` +
      'Nothing was changed.',
    { database: first.file, databaseRelease: first.state.release, release: RELEASE, behind: first.behind },
  )
}

/** Each database the gateway owns that is behind this release; throws when one is ahead. Reads only. */
async function inspect(
  dataDir: string,
  elsewhere: readonly string[] = [],
): Promise<Array<{ file: string; state: DatabaseState; behind: Drift[] }>> {
  // The list imports every feature; a command such as `doorstep tokens` loads it only when it needs it.
  const { DATABASE_SCHEMAS, versionsOf } = await import('./schemas.js')
  const behind: Array<{ file: string; state: DatabaseState; behind: Drift[] }> = []
  for (const file of DATABASES) {
    const known = versionsOf(DATABASE_SCHEMAS[file].filter((s) => !elsewhere.includes(s.feature)))
    const state = withoutFeatures(readState(path.join(dataDir, file)), elsewhere)
    const p = plan(state, known)
    if (p.kind === 'downgrade' && state) throw downgradeRefused(dataDir, file, state, known, p.ahead)
    if (p.kind === 'upgrade' && state) behind.push({ file, state, behind: p.behind })
  }
  return behind
}

/**
 * A file's state without the features kept elsewhere: a gateway moved to PostgreSQL still has those
 * features' old tables in its file, at whatever version they were left, and they are not its to judge.
 */
function withoutFeatures(state: DatabaseState | null, elsewhere: readonly string[]): DatabaseState | null {
  if (!state || elsewhere.length === 0) return state
  const versions = Object.fromEntries(Object.entries(state.versions).filter(([f]) => !elsewhere.includes(f)))
  return { ...state, versions }
}

function downgradeRefused(
  dataDir: string,
  file: string,
  state: DatabaseState,
  known: Record<string, number>,
  ahead: Drift[],
): DoorstepError {
  const wrote = state.release ?? 'a newer release'
  const run = state.release ? `Run ${state.release} or later on it` : 'Run the release that wrote it'
  return new DoorstepError(
    'DOORSTEP_ERR_DOWNGRADE_REFUSED',
    `${file} was last written by Doorstep ${wrote}, and its schema is ahead of this release (${RELEASE}): ` +
      `${ahead.map((a) => `${a.feature} is at version ${a.database}, ${RELEASE} knows ${a.release}`).join('; ')}. ` +
      `Nothing was changed. ${run}, or go back to ${RELEASE} by restoring the backup ` +
      `taken before the upgrade (in ${path.join(dataDir, UPGRADE_BACKUPS)}).`,
    {
      database: file,
      databaseRelease: state.release,
      release: RELEASE,
      databaseVersions: state.versions,
      releaseVersions: known,
    },
  )
}
