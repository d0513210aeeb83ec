import type { TestProject } from 'vitest/node'
import { startTestInflux } from './helpers/influx.js'
import { startTestPostgres, type TestPostgres } from './helpers/postgres.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the run's one InfluxDB; each test file uses its own database on it. */
    influxUrl: string
    /** Set in the project of `*.browser.test.ts` files, which run alone, one at a time (vitest.config.ts). */
    browserGroup?: boolean
    /**
     * With TEST_DATABASE=postgres: the run's one PostgreSQL (its maintenance database); every
     * test gateway then keeps its shared state in a database of its own there.
     */
    postgresAdminUrl?: string
  }
}

type TestInflux = Awaited<ReturnType<typeof startTestInflux>>

/** Every project of the run (vitest.config.ts) calls this setup; they share one influxd. */
let shared: Promise<TestInflux> | null = null
let postgres: Promise<TestPostgres> | null = null
let users = 0

/** Which database the test gateways share their state in: `sqlite` (the default) or `postgres`. */
function testDatabase(): 'sqlite' | 'postgres' {
  const v = process.env.TEST_DATABASE ?? 'sqlite'
  if (v !== 'sqlite' && v !== 'postgres') {
    throw new Error(`TEST_DATABASE must be sqlite or postgres, not ${JSON.stringify(v)}`)
  }
  return v
}

/** One influxd for the whole run: starting one per file would cost more than most files take. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared ??= startTestInflux()
  if (testDatabase() === 'postgres') postgres ??= startTestPostgres()
  users++
  const influx = await shared
  project.provide('influxUrl', influx.url)
  const pg = await postgres
  if (pg) project.provide('postgresAdminUrl', pg.url('postgres'))
  return async () => {
    if (--users > 0) return
    shared = null
    postgres = null
    await influx.stop()
    await pg?.stop()
  }
}
