import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { ManagedInfluxd } from '../../gateway/src/influx/managed-influxd.js'

export interface TestInflux {
  url: string
  stop(): Promise<void>
  via: 'testcontainers' | 'local'
}

const RUNTIME_CHECK_MS = 5000

/**
 * One InfluxDB 1.x for tests: a container when a Docker engine answers (the
 * image CI pins), otherwise the Debian influxd as a child process.
 * DOORSTEP_TEST_INFLUX=local skips the engine check.
 */
export async function startTestInflux(): Promise<TestInflux> {
  if (process.env.DOORSTEP_TEST_INFLUX !== 'local' && (await containerRuntimeAnswers())) {
    return startContainer()
  }
  return startLocal()
}

/** Where testcontainers would look for an engine; with none of them present, skip its 1.5 s import. */
function runtimeCandidates(): boolean {
  const home = os.homedir()
  const sockets = [
    '/var/run/docker.sock',
    path.join(home, '.docker/run/docker.sock'),
    path.join(home, '.docker/desktop/docker.sock'),
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock') : '',
    path.join(home, '.testcontainers.properties'),
  ]
  return Boolean(process.env.DOCKER_HOST) || sockets.some((p) => p !== '' && fs.existsSync(p))
}

async function containerRuntimeAnswers(): Promise<boolean> {
  if (!runtimeCandidates()) return false
  let timer: NodeJS.Timeout | undefined
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('container runtime check timed out')), RUNTIME_CHECK_MS)
    })
    await Promise.race([getContainerRuntimeClient(), timeout])
    return true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

async function startContainer(): Promise<TestInflux> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const container = await new GenericContainer('influxdb:1.8')
    .withExposedPorts(8086)
    .withEnvironment({
      INFLUXDB_REPORTING_DISABLED: 'true',
      INFLUXDB_HTTP_LOG_ENABLED: 'false',
      INFLUXDB_DATA_QUERY_LOG_ENABLED: 'false',
      INFLUXDB_MONITOR_STORE_ENABLED: 'false',
    })
    .withWaitStrategy(Wait.forHttp('/ping', 8086).forStatusCode(204))
    .withStartupTimeout(60_000)
    .start()
  return {
    url: `http://${container.getHost()}:${container.getMappedPort(8086)}`,
    via: 'testcontainers',
    async stop() {
      await container.stop()
    },
  }
}

async function startLocal(): Promise<TestInflux> {
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'doorstep-influx-'))
  const influxd = new ManagedInfluxd({ dataDir, log: pino({ level: 'warn' }) })
  try {
    const url = await influxd.start()
    return {
      url,
      via: 'local',
      async stop() {
        await influxd.stop()
        await fsp.rm(dataDir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    await fsp.rm(dataDir, { recursive: true, force: true })
    throw err
  }
}
