import { describe, expect, it } from 'vitest'
import { ConfigError, configFrom } from '../../gateway/src/config.js'
import { parseProxyHeader, proxyList } from '../../gateway/src/mqtt/proxy-protocol.js'
import { v2Header, v2Ipv4 } from '../helpers/proxy-protocol.js'

const CONNECT = Buffer.from([0x10, 0x0c, 0x00, 0x04])

describe('parseProxyHeader', () => {
  it('reads a v1 line and tells where the client bytes begin', () => {
    const line = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.11 51234 1883\r\n')
    expect(parseProxyHeader(Buffer.concat([line, CONNECT]))).toEqual({
      kind: 'ok',
      length: line.length,
      source: '203.0.113.7',
    })
  })

  it('writes a v1 IPv6 source as Node does, so one client is one key', () => {
    const line = Buffer.from('PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0001 ::1 51234 1883\r\n')
    expect(parseProxyHeader(line)).toMatchObject({ kind: 'ok', source: '2001:db8::1' })
  })

  it('takes UNKNOWN and LOCAL as the proxy speaking for itself', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({
      kind: 'ok',
      length: 15,
      source: null,
    })
    const local = v2Header({ command: 0, family: 0 })
    expect(parseProxyHeader(local)).toEqual({ kind: 'ok', length: 16, source: null })
  })

  it('waits for more at every cut of a valid header, v1 and v2 alike', () => {
    const v1 = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.11 51234 1883\r\n')
    const v2 = v2Ipv4('198.51.100.9')
    for (const h of [v1, v2]) {
      for (let n = 0; n < h.length; n++)
        expect(parseProxyHeader(h.subarray(0, n)).kind, `${n} bytes`).toBe('incomplete')
      expect(parseProxyHeader(h).kind).toBe('ok')
    }
  })

  it('reads a v2 IPv4 block, skipping the TLVs after it', () => {
    const addr = v2Ipv4('198.51.100.9')
    const tlvs = Buffer.from([0x05, 0x00, 0x03, 0x61, 0x62, 0x63])
    const withTlvs = v2Header({ addresses: addr.subarray(16), tlvs })
    expect(parseProxyHeader(Buffer.concat([withTlvs, CONNECT]))).toEqual({
      kind: 'ok',
      length: 16 + 12 + tlvs.length,
      source: '198.51.100.9',
    })
  })

  it('reads a v2 IPv6 block', () => {
    const a = Buffer.alloc(36)
    a.writeUInt16BE(0x2001, 0)
    a.writeUInt16BE(0x0db8, 2)
    a.writeUInt16BE(0x0001, 14)
    expect(parseProxyHeader(v2Header({ family: 0x21, addresses: a }))).toMatchObject({
      kind: 'ok',
      source: '2001:db8::1',
    })
  })

  it('refuses what is not a PROXY header, at the first byte that shows it', () => {
    expect(parseProxyHeader(CONNECT)).toEqual({ kind: 'bad', reason: 'not a PROXY protocol header' })
    expect(parseProxyHeader(Buffer.from('PROXZ'))).toMatchObject({ kind: 'bad' })
    expect(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b]))).toMatchObject({ kind: 'bad' })
  })

  it('refuses a v1 line too long, a family that does not match its address, or a bad address', () => {
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`))).toMatchObject({ kind: 'bad' })
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 2001:db8::1 ::1 1 2\r\n'))).toMatchObject({ kind: 'bad' })
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n'))).toMatchObject({
      kind: 'bad',
    })
    expect(parseProxyHeader(Buffer.from('PROXY UDP4 1.2.3.4 10.0.0.1 1 2\r\n'))).toMatchObject({
      kind: 'bad',
    })
  })

  it('refuses a v2 header of another version or command, a short block, or a huge length', () => {
    const ok = v2Ipv4('198.51.100.9')
    const version = Buffer.from(ok)
    version[12] = 0x31
    expect(parseProxyHeader(version)).toMatchObject({ kind: 'bad' })
    const command = Buffer.from(ok)
    command[12] = 0x22
    expect(parseProxyHeader(command)).toMatchObject({ kind: 'bad' })
    expect(parseProxyHeader(v2Header({ addresses: Buffer.alloc(8) }))).toMatchObject({ kind: 'bad' })
    const huge = Buffer.from(ok)
    huge.writeUInt16BE(60_000, 14)
    expect(parseProxyHeader(huge)).toMatchObject({ kind: 'bad' })
  })
})

describe('DOORSTEP_TRUSTED_PROXIES', () => {
  it('takes addresses and CIDR blocks of both families, and matches by them', () => {
    const cfg = configFrom({ DOORSTEP_TRUSTED_PROXIES: ' 10.0.0.5, 172.28.0.0/16,fd00::/8 ' })
    expect(cfg.cluster.trustedProxies).toEqual(['10.0.0.5', '172.28.0.0/16', 'fd00::/8'])
    const list = proxyList(cfg.cluster.trustedProxies)
    expect(list?.check('10.0.0.5', 'ipv4')).toBe(true)
    expect(list?.check('10.0.0.6', 'ipv4')).toBe(false)
    expect(list?.check('172.28.9.9', 'ipv4')).toBe(true)
    expect(list?.check('fd12::1', 'ipv6')).toBe(true)
    expect(proxyList(configFrom({}).cluster.trustedProxies)).toBeNull()
  })

  it('refuses an entry that is not an address or a block, naming the setting', () => {
    for (const bad of ['proxy.local', '10.0.0.0/33', '10.0.0.1/8/1', 'fd00::/129']) {
      expect(() => configFrom({ DOORSTEP_TRUSTED_PROXIES: bad }), bad).toThrow(ConfigError)
      try {
        configFrom({ DOORSTEP_TRUSTED_PROXIES: bad })
      } catch (err) {
        expect((err as ConfigError).problems.join('\n')).toMatch(/DOORSTEP_TRUSTED_PROXIES/)
      }
    }
  })
})
