import net from 'node:net'
import { Aedes } from 'aedes'
import type { AedesPersistence } from 'aedes-persistence'
import memoryPersistenceModule from 'aedes-persistence'
import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { withExactRetained } from '../../gateway/src/mqtt/exact-retained.js'

const memoryPersistence = memoryPersistenceModule as unknown as () => AedesPersistence

/** A bare aedes over real TCP on loopback with the wrapped in-memory store. */
async function broker(): Promise<{ url: string; scans: string[][]; close(): Promise<void> }> {
  const p = memoryPersistence()
  const scans: string[][] = []
  // Record what reaches the store's own scan (wrapped before withExactRetained takes it).
  const scan = p.createRetainedStreamCombi.bind(p)
  p.createRetainedStreamCombi = (patterns) => {
    scans.push([...patterns])
    return scan(patterns)
  }
  const aedes = await Aedes.createBroker({ persistence: withExactRetained(p) })
  const server = net.createServer(aedes.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `mqtt://127.0.0.1:${port}`,
    scans,
    close: async () => {
      await new Promise<void>((r) => aedes.close(() => r()))
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

let probes = 0

/**
 * Subscribes and collects the retained messages delivered for `topic`. The
 * end is a retained probe on a topic of its own, subscribed once the first
 * SUBACK is in: aedes sends a subscription's retained messages after its
 * SUBACK, so the probe arrives behind those of `topic`.
 */
async function retainedOn(url: string, topic: string): Promise<Array<[string, string]>> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  const probe = `probe/${process.pid}/${probes++}`
  await c.publishAsync(probe, 'end', { retain: true, qos: 1 })
  const got: Array<[string, string]> = []
  const ended = new Promise<void>((resolve) => {
    c.on('message', (t, payload, packet) => {
      if (t === probe) resolve()
      else if (packet.retain) got.push([t, String(payload)])
    })
  })
  await c.subscribeAsync(topic, { qos: 1 })
  await c.subscribeAsync(probe, { qos: 1 })
  await ended
  await c.publishAsync(probe, '', { retain: true, qos: 1 })
  await c.endAsync()
  return got.sort()
}

describe('retained lookup for exact topics (real aedes over TCP)', () => {
  let b: Awaited<ReturnType<typeof broker>> | null = null
  afterEach(async () => {
    await b?.close()
    b = null
  })

  it('answers an exact subscription by key, wildcards by the store, and honours clearing', async () => {
    b = await broker()
    const pub = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 })
    await pub.publishAsync('cam/a/status', 'online-a', { retain: true, qos: 1 })
    await pub.publishAsync('cam/b/status', 'online-b', { retain: true, qos: 1 })
    await pub.publishAsync('cam/a/status', 'offline-a', { retain: true, qos: 1 })

    expect(await retainedOn(b.url, 'cam/a/status')).toEqual([['cam/a/status', 'offline-a']])
    expect(await retainedOn(b.url, 'cam/c/status')).toEqual([])
    expect(b.scans).toEqual([])

    expect(await retainedOn(b.url, 'cam/+/status')).toEqual([
      ['cam/a/status', 'offline-a'],
      ['cam/b/status', 'online-b'],
    ])
    expect(b.scans).toEqual([['cam/+/status']])

    // An empty retained payload clears the topic, for the keyed lookup as for the store.
    await pub.publishAsync('cam/a/status', '', { retain: true, qos: 1 })
    expect(await retainedOn(b.url, 'cam/a/status')).toEqual([])
    expect(await retainedOn(b.url, 'cam/#')).toEqual([['cam/b/status', 'online-b']])
    await pub.endAsync()
  })
})
