import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const UNIT = path.join(ROOT, 'gateway/deploy/doorstep.service')

/** The unit's `Key=value` lines of one section, in order. */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let current = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const head = /^\[(.+)\]$/.exec(line)
    if (head) {
      current = head[1] ?? ''
      continue
    }
    if (current !== name) continue
    const eq = line.indexOf('=')
    const key = line.slice(0, eq)
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)])
  }
  return out
}

describe('the systemd unit', () => {
  const text = fs.readFileSync(UNIT, 'utf8')
  const svc = section(text, 'Service')

  it('passes systemd-analyze verify without a word', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', UNIT])
    expect(`${stdout}${stderr}`).toBe('')
  })

  it('runs the gateway of this repository as its own user, restarted on failure, with its state closed', () => {
    const exec = svc.get('ExecStart')?.[0] ?? ''
    const main = /\/opt\/doorstep\/(\S+\.ts)$/.exec(exec)?.[1]
    expect(main && fs.existsSync(path.join(ROOT, main))).toBe(true)
    expect(svc.get('WorkingDirectory')).toEqual(['/opt/doorstep'])
    expect(svc.get('User')).toEqual(['doorstep'])
    expect(svc.get('Restart')).toEqual(['on-failure'])
    expect(svc.get('StateDirectory')).toEqual(['doorstep'])
    expect(svc.get('StateDirectoryMode')).toEqual(['0700'])
    expect(svc.get('Environment')).toEqual(
      expect.arrayContaining(['DOORSTEP_DATA_DIR=/var/lib/doorstep', 'DOORSTEP_LOG_FORMAT=json']),
    )
  })

  it('is hardened, and every DOORSTEP_ variable it sets is one the gateway knows', async () => {
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['NoNewPrivileges', 'true'],
      ['ProtectHome', 'true'],
      ['PrivateTmp', 'true'],
      ['CapabilityBoundingSet', ''],
    ] as const)
      expect(svc.get(key), key).toEqual([value])
    const { CONFIG_VARIABLES } = await import('../../gateway/src/config.js')
    for (const env of svc.get('Environment') ?? []) {
      const name = env.split('=')[0] ?? ''
      if (name.startsWith('DOORSTEP_')) expect(CONFIG_VARIABLES).toContain(name)
    }
  })
})
