import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CliError, parseCli } from '../../device-sim/src/cli-options.js'
import { type Fleet, startFleet } from '../../device-sim/src/fleet.js'
import { parseSourceNet, SourceNetError, sourceAddressFor } from '../../device-sim/src/source-address.js'
import { until } from '../helpers/wait.js'
import { startBroker, type TestBroker } from './helpers.js'

describe('--source-net', () => {
  it('reads a loopback block, leaving out its first and last addresses', () => {
    const b = parseSourceNet('127.16.0.0/12')
    expect(b.cidr).toBe('127.16.0.0/12')
    expect(b.size).toBe(2 ** 20 - 2)
    expect(sourceAddressFor(0, b)).toBe('127.16.0.1')
    expect(sourceAddressFor(255, b)).toBe('127.16.1.0')
    // A block given by any address inside it starts at its network address.
    expect(parseSourceNet('127.20.3.9/24').cidr).toBe('127.20.3.0/24')
  })

  it('wraps round when units outnumber the addresses', () => {
    const b = parseSourceNet('127.9.0.0/30')
    expect([0, 1, 2, 3].map((i) => sourceAddressFor(i, b))).toEqual([
      '127.9.0.1',
      '127.9.0.2',
      '127.9.0.1',
      '127.9.0.2',
    ])
  })

  it('refuses what is not a loopback block, naming the flag', () => {
    expect(() => parseSourceNet('10.0.0.0/8')).toThrow(SourceNetError)
    expect(() => parseSourceNet('127.0.0.1')).toThrow(/IPv4 block/)
    expect(() => parseSourceNet('127.0.0.0/31')).toThrow(/prefix 8 to 30/)
    expect(() => parseCli(['--source-net', '192.168.1.0/24'], {})).toThrow(CliError)
    expect(() => parseCli(['--source-net', '192.168.1.0/24'], {})).toThrow(/^--source-net: must lie in 127/)
    expect(parseCli(['--source-net', '127.16.0.0/12'], {})['source-net']).toBe('127.16.0.0/12')
  })
})

describe('a fleet connecting from a loopback block', () => {
  const N = 5
  let broker: TestBroker
  let fleet: Fleet
  const fromAddress = new Map<string, string>()
  const secrets = new Map(Array.from({ length: N }, (_, i) => [`src-${String(i + 1).padStart(5, '0')}`, 'x']))

  beforeAll(async () => {
    broker = await startBroker()
    broker.aedes.on('client', (client) => {
      const conn = (client as unknown as { conn: { remoteAddress?: string } }).conn
      fromAddress.set(client.id, conn.remoteAddress ?? '')
    })
    fleet = await startFleet({
      devices: N,
      mqttUrl: broker.url,
      secrets,
      idPrefix: 'src-',
      connectRate: 1_000,
      heartbeatS: 60,
      eventRate: 0,
      sourceNet: '127.31.0.0/29',
    })
  })

  afterAll(async () => {
    await fleet?.stop()
    await broker?.close()
  })

  it('gives each unit its own source address, in turn, and the units still reconnect from it', async () => {
    await until('every unit connected', () => fleet.stats().connected === N, 10_000)
    const seen = [...fromAddress.entries()].sort(([a], [b]) => a.localeCompare(b))
    // Six usable addresses in a /29: five units, five distinct addresses from the block, in unit order.
    expect(seen.map(([, addr]) => addr)).toEqual([
      '127.31.0.1',
      '127.31.0.2',
      '127.31.0.3',
      '127.31.0.4',
      '127.31.0.5',
    ])
    // A dropped link comes back from the same address (the connection is rebuilt from the client's options).
    fromAddress.clear()
    const unit = fleet.unit('src-00003')
    expect(unit).toBeDefined()
    unit?.dropLink()
    await until('the unit back', () => fromAddress.has('src-00003'), 10_000)
    expect(fromAddress.get('src-00003')).toBe('127.31.0.3')
  })

  it('refuses a block outside loopback before any unit starts', async () => {
    await expect(
      startFleet({ devices: 1, mqttUrl: broker.url, secrets, idPrefix: 'src-', sourceNet: '10.1.0.0/16' }),
    ).rejects.toThrow(/sourceNet.*127\.0\.0\.0\/8|127\.0\.0\.0\/8/)
  })
})
