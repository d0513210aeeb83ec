import type { TestProject } from 'vitest/node'
import { startTestInflux } from './helpers/influx.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the run's one InfluxDB; each test file uses its own database on it. */
    influxUrl: string
    /** Set in the project of `*.browser.test.ts` files, which run alone, one at a time (vitest.config.ts). */
    browserGroup?: boolean
  }
}

type TestInflux = Awaited<ReturnType<typeof startTestInflux>>

/** Every project of the run (vitest.config.ts) calls this setup; they share one influxd. */
let shared: Promise<TestInflux> | null = null
let users = 0

/** One influxd for the whole run: starting one per file would cost more than most files take. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared ??= startTestInflux()
  users++
  const influx = await shared
  project.provide('influxUrl', influx.url)
  return async () => {
    if (--users > 0) return
    shared = null
    await influx.stop()
  }
}
