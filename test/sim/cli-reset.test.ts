import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { stablePort } from '../helpers/ports.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * `npm run sim` as a user runs it, against a real gateway whose data is reset between two runs.
 * The gateway keeps its ports across the reset: the saved secrets are per gateway address.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = path.join(ROOT, 'device-sim/src/main.ts')
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m

describe('npm run sim against a gateway whose data was reset', { timeout: 60_000 }, () => {
  const tmp = tempDir('doorstep-sim-')
  const dataDir = path.join(tmp.dir, 'data')
  const credentialsDir = path.join(tmp.dir, 'credentials')
  // One admin token for the gateway before and after the reset, as a configured install has.
  const token = `adm_${randomBytes(16).toString('hex')}`
  const env: Record<string, number | string> = { DOORSTEP_DATA_DIR: dataDir, DOORSTEP_ADMIN_TOKEN: token }
  let gw: TestGateway

  function sim(devices: number): Promise<{ code: number | null; out: string }> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        ...['--devices', String(devices), '--duration-s', '1', '--event-rate', '0', '--no-alerts'],
        ...['--gateway', gw.gateway.mqttUrl, '--http', gw.gateway.httpUrl],
        ...['--credentials-dir', credentialsDir, '--id-prefix', 'rst-'],
      ],
      // The token through the environment, as the README shows: never on a command line.
      {
        cwd: ROOT,
        env: { ...process.env, DOORSTEP_ADMIN_TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, out })))
  }

  // A reset here is a data dir removed: it holds the registry only when the gateway's own file does.
  beforeAll(async () => {
    env.DOORSTEP_HTTP_PORT = await stablePort()
    env.DOORSTEP_MQTT_PORT = await stablePort()
    gw = await startTestGateway(env, {}, { ownFile: true })
  })
  afterAll(async () => {
    await gw?.stop()
    tmp.cleanup()
  })

  it('notices the reset before provisioning anything and provisions every unit afresh', async () => {
    const first = await sim(3)
    expect(first.code).toBe(0)
    expect(first.out).toMatch(/provisioned 3\/3 units/)

    await gw.stop()
    fs.rmSync(dataDir, { recursive: true, force: true })
    gw = await startTestGateway(env, {}, { ownFile: true })

    // More units than before: provisioning the new ones before noticing is what used to collide.
    const second = await sim(5)
    expect(second.out).toMatch(/no longer knows the units saved for it \(was its data reset\?\)/)
    expect(second.out).toMatch(/provisioning all 5 units again/)
    expect(second.out, second.out).toMatch(/provisioned 5\/5 units/)
    expect(second.out).not.toMatch(STACK_FRAME)
    expect(second.code).toBe(0)
    expect(second.out).not.toContain(token)
  })

  it('says in one line what to do when the gateway has the units but their secrets are lost', async () => {
    fs.rmSync(credentialsDir, { recursive: true, force: true })
    const run = await sim(5)
    expect(run.code, run.out).toBe(1)
    expect(run.out).toMatch(
      /device-sim: the gateway already has 5 of these units \(e\.g\. rst-00001\) but their secrets are not saved here; run with another --id-prefix/,
    )
    expect(run.out).not.toMatch(STACK_FRAME)
  })
})
