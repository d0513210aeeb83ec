import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { EvidenceKeys } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EvidenceKeyring,
  fingerprintOf,
  publicKeyFromPem,
  verifyBytes,
} from '../../gateway/src/evidence/index.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { tempDir } from '../helpers/tmp.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

describe('the evidence key', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway()
  })
  afterAll(async () => t?.stop())

  it('is made on first start, private key 0600, and served publicly with its fingerprint', async () => {
    const file = path.join(t.dataDir, 'evidence', 'key.pem')
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    // No token: the route is public.
    const res = await fetch(`${t.gateway.httpUrl}/api/v1/evidence/keys`)
    expect(res.status).toBe(200)
    const body = EvidenceKeys.parse(await res.json())
    expect(body.keys).toHaveLength(1)
    const k = body.keys[0] as EvidenceKeys['keys'][number]
    expect(k).toMatchObject({ state: 'current', alg: 'Ed25519' })
    expect(k.publicKey).not.toContain('PRIVATE')
    const pub = publicKeyFromPem(k.publicKey)
    expect(pub && fingerprintOf(pub)).toBe(k.fingerprint)
    expect(k.fingerprint).toBe(t.gateway.evidenceKeys.fingerprint)
    const sig = t.gateway.evidenceKeys.sign('hello')
    expect(pub && verifyBytes(pub, 'hello', sig)).toBe(true)
    expect(pub && verifyBytes(pub, 'hellp', sig)).toBe(false)
  })

  it('`doorstep keys` shows the fingerprint and public key; rotation keeps the old one as retired', async () => {
    const dir = tempDir('doorstep-keys-')
    try {
      const ring = new EvidenceKeyring({ dataDir: dir.dir })
      ring.load()
      const first = ring.fingerprint
      const shown = await run(process.execPath, [CLI, 'keys', '--data-dir', dir.dir], { cwd: ROOT })
      expect(shown.stdout).toContain(`current  Ed25519  ${first}`)
      expect(shown.stdout).toContain('BEGIN PUBLIC KEY')
      expect(shown.stdout).not.toContain('PRIVATE')
      const rotated = await run(process.execPath, [CLI, 'keys', 'rotate', '--data-dir', dir.dir], {
        cwd: ROOT,
      })
      expect(rotated.stdout).toContain('new evidence key')
      const again = new EvidenceKeyring({ dataDir: dir.dir })
      again.load()
      expect(again.fingerprint).not.toBe(first)
      expect(again.list().map((k) => [k.fingerprint, k.state])).toEqual([
        [again.fingerprint, 'current'],
        [first, 'retired'],
      ])
    } finally {
      dir.cleanup()
    }
  })

  it('a supplied key file is used as is, and replacing it retires the old key', () => {
    const dir = tempDir('doorstep-keyfile-')
    try {
      const file = path.join(dir.dir, 'supplied.pem')
      const mk = () => {
        const { privateKey } = generateKeyPairSync('ed25519')
        fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
        return fingerprintOf(privateKey)
      }
      const a = mk()
      const warnings: string[] = []
      const ring = new EvidenceKeyring({ dataDir: dir.dir, keyFile: file, warn: (m) => warnings.push(m) })
      ring.load()
      expect(ring.fingerprint).toBe(a)
      expect(warnings).toEqual([])
      expect(fs.existsSync(path.join(dir.dir, 'evidence', 'key.pem'))).toBe(false)
      expect(() => ring.rotate()).toThrow(/replace that file/)
      const b = mk()
      const next = new EvidenceKeyring({ dataDir: dir.dir, keyFile: file })
      next.load()
      expect(next.list().map((k) => [k.fingerprint, k.state])).toEqual([
        [b, 'current'],
        [a, 'retired'],
      ])
      fs.chmodSync(file, 0o644)
      new EvidenceKeyring({ dataDir: dir.dir, keyFile: file, warn: (m) => warnings.push(m) }).load()
      expect(warnings).toEqual([expect.stringContaining('can be read by other users')])
      expect(warnings[0]).not.toContain('PRIVATE')
      fs.writeFileSync(file, 'not a key')
      expect(() => new EvidenceKeyring({ dataDir: dir.dir, keyFile: file }).load()).toThrow(
        /is not a PEM private key/,
      )
    } finally {
      dir.cleanup()
    }
  })
})
