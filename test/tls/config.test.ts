import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../gateway/src/config.js'
import { tempDir } from '../helpers/tmp.js'
import { makePki } from './certs.js'

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

/** TLS settings are checked at start, with a line per problem naming the variable. */
describe('TLS configuration', () => {
  const tmp = tempDir('doorstep-tls-config-')
  const pki = makePki(tmp.dir)
  const a = pki.server('a')
  const b = pki.server('b')
  afterAll(() => tmp.cleanup())

  it('is off by default: plain ports on DOORSTEP_HOST, TLS ports 8883 and 8443 when turned on', () => {
    const off = loadConfig({ DOORSTEP_HOST: '0.0.0.0' })
    expect(off.tls).toBeNull()
    expect(off.plainHost).toBe('0.0.0.0')
    expect([off.mqttsPort, off.httpsPort]).toEqual([8883, 8443])
  })

  it('a certificate and its key turn TLS on and the plain ports off, unless kept on loopback', () => {
    const on = loadConfig({ DOORSTEP_HOST: '0.0.0.0', DOORSTEP_TLS_CERT: a.cert, DOORSTEP_TLS_KEY: a.key })
    expect(on.tls).toEqual({ cert: a.cert, key: a.key, clientCa: undefined })
    expect(on.plainHost).toBeNull()
    const loopback = loadConfig({
      DOORSTEP_HOST: '0.0.0.0',
      DOORSTEP_TLS_CERT: a.cert,
      DOORSTEP_TLS_KEY: a.key,
      DOORSTEP_PLAIN_LISTENERS: 'loopback',
      DOORSTEP_TLS_CLIENT_CA: pki.caFile,
    })
    expect(loopback.plainHost).toBe('127.0.0.1')
    expect(loopback.tls?.clientCa).toBe(pki.caFile)
  })

  it('names a missing file, an unreadable key, a key that is not the certificate’s, and a half setting', () => {
    const missing = path.join(tmp.dir, 'nope.pem')
    expect(problems({ DOORSTEP_TLS_CERT: missing, DOORSTEP_TLS_KEY: a.key })).toEqual([
      `DOORSTEP_TLS_CERT: cannot read ${missing} (no such file)`,
    ])
    const garbled = path.join(tmp.dir, 'garbled.key')
    fs.writeFileSync(garbled, 'not a key\n')
    expect(problems({ DOORSTEP_TLS_CERT: a.cert, DOORSTEP_TLS_KEY: garbled })).toEqual([
      expect.stringMatching(/^DOORSTEP_TLS_KEY: not a PEM private key/),
    ])
    expect(problems({ DOORSTEP_TLS_CERT: a.cert, DOORSTEP_TLS_KEY: b.key })).toEqual([
      'DOORSTEP_TLS_KEY: the key does not belong to the certificate in DOORSTEP_TLS_CERT',
    ])
    expect(problems({ DOORSTEP_TLS_CERT: a.cert })).toEqual([
      'DOORSTEP_TLS_KEY: needed with DOORSTEP_TLS_CERT',
    ])
    expect(problems({ DOORSTEP_TLS_CLIENT_CA: pki.caFile })).toEqual([
      expect.stringMatching(/^DOORSTEP_TLS_CLIENT_CA: needs DOORSTEP_TLS_CERT/),
    ])
    expect(
      problems({ DOORSTEP_TLS_CERT: a.cert, DOORSTEP_TLS_KEY: a.key, DOORSTEP_TLS_CLIENT_CA: garbled }),
    ).toEqual(['DOORSTEP_TLS_CLIENT_CA: not a PEM certificate'])
    expect(problems({ DOORSTEP_PLAIN_LISTENERS: 'everywhere' })).toEqual([
      expect.stringMatching(/^DOORSTEP_PLAIN_LISTENERS: .*loopback/),
    ])
  })

  it('never puts a key’s content in a message', () => {
    const key = fs.readFileSync(b.key, 'utf8')
    const body = key.split('\n')[1] as string
    const all = problems({ DOORSTEP_TLS_CERT: b.key, DOORSTEP_TLS_KEY: a.cert }).join('\n')
    expect(all).toMatch(/^DOORSTEP_TLS_KEY:/)
    expect(all).not.toContain(body)
  })
})
