import type { TestProject } from 'vitest/node'
import { startTestInflux } from './helpers/influx.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the run's one InfluxDB; each test file uses its own database on it. */
    influxUrl: string
  }
}

/** One influxd for the whole run: starting one per file would cost more than most files take. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const influx = await startTestInflux()
  project.provide('influxUrl', influx.url)
  return async () => {
    await influx.stop()
  }
}
