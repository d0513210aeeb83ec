import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { stablePort } from './ports.js'
import { tempDir } from './tmp.js'

const run = promisify(execFile)

export interface TestPostgres {
  port: number
  /** `postgres://postgres@127.0.0.1:PORT/NAME` for a database made by `database()`. */
  url(name: string): string
  /** Makes an empty database and returns its URL: one per test keeps tests apart. */
  database(name?: string): Promise<string>
  /** Stops the server for good and removes its dir. */
  stop(): Promise<void>
  /** Stops the server (`immediate`: as if killed, no checkpoint), keeping its data and port for `up`. */
  down(mode?: 'fast' | 'immediate'): Promise<void>
  /** Starts it again on the same port, with its data. */
  up(): Promise<void>
}

/** Debian installs the server's programs under /usr/lib/postgresql/<major>/bin, off the PATH. */
function serverBin(): string {
  const root = '/usr/lib/postgresql'
  const majors = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  const major = majors[0]
  if (major === undefined) {
    throw new Error('PostgreSQL is not installed: run `npm run setup` (Debian package postgresql)')
  }
  return path.join(root, major, 'bin')
}

let made = 0

/**
 * A real Debian PostgreSQL for one test file: its own cluster in a temp dir, on a free loopback port,
 * run as the `postgres` user (it refuses root), trusting local connections, with fsync off (a test's
 * data need not survive the machine). `down` and `up` stop and start it on the same port with its data;
 * `down('immediate')` stops it as a crash would.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const bin = serverBin()
  const tmp = tempDir('doorstep-pg-')
  const data = path.join(tmp.dir, 'data')
  const logFile = path.join(tmp.dir, 'postgres.log')
  fs.chmodSync(tmp.dir, 0o755)
  await run('chown', ['postgres:postgres', tmp.dir])
  const asPostgres = (prog: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', path.join(bin, prog), ...args], { cwd: tmp.dir })
  await asPostgres('initdb', [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ])
  const port = await stablePort()
  const options = [
    `-p ${port}`,
    `-k ${tmp.dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ')
  const up = async () => {
    try {
      await asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '30', 'start'])
    } catch (err) {
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : ''
      throw new Error(`postgres did not start: ${(err as Error).message}\n${log}`)
    }
  }
  const down = async (mode: 'fast' | 'immediate' = 'fast') => {
    if (!fs.existsSync(path.join(data, 'postmaster.pid'))) return
    await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop'])
  }
  await up()
  const url = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`
  return {
    port,
    url,
    database: (name = `t${process.pid}_${++made}`) => createDatabase(url('postgres'), name),
    down,
    up,
    async stop() {
      await down('fast').catch(() => down('immediate'))
      tmp.cleanup()
    },
  }
}

/** Databases made for data dirs, by dir: a gateway restarted on its dir finds its state again. */
const byDataDir = new Map<string, Promise<string>>()

/**
 * The URL of the database that belongs to `dataDir` on the PostgreSQL whose maintenance database is
 * `adminUrl`, made empty the first time it is asked for.
 */
export function databaseFor(adminUrl: string, dataDir: string): Promise<string> {
  let url = byDataDir.get(dataDir)
  if (!url) {
    const name = `gw_${process.pid}_${byDataDir.size + 1}`
    url = createDatabase(adminUrl, name)
    byDataDir.set(dataDir, url)
  }
  return url
}

/** Makes the empty database `name` beside the maintenance database at `adminUrl`; returns its URL. */
async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const u = new URL(adminUrl)
  u.pathname = `/${name}`
  return u.toString()
}
