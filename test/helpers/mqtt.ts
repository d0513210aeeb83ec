import net from 'node:net'
import { duplexPair } from 'node:stream'
import type { Aedes } from 'aedes'
import mqtt, { type IClientOptions, MqttClient } from 'mqtt'

/** Where a unit connects: a broker URL over TCP, or a stream handed straight to a broker. */
export type UnitTarget = string | ((client: MqttClient) => import('node:stream').Duplex)

/**
 * An in-memory duplex pair to `aedes.handle`, the way aedes' own tests drive
 * it: no port, no TCP, the broker's full packet handling.
 */
export function overDuplex(aedes: Aedes): UnitTarget {
  return () => {
    const [unitSide, brokerSide] = duplexPair()
    // A pair does not close together: when either end goes, the other must, as a socket's would.
    const closeBoth = () => {
      unitSide.destroy()
      brokerSide.destroy()
    }
    for (const side of [unitSide, brokerSide]) {
      side.once('close', closeBoth)
      side.once('end', closeBoth)
    }
    aedes.handle(brokerSide)
    return unitSide
  }
}

function open(target: UnitTarget, opts: IClientOptions): MqttClient {
  return typeof target === 'string' ? mqtt.connect(target, opts) : new MqttClient(target, opts)
}

/** Options a unit connects with: MQTT 3.1.1, client id = username = device id, no automatic reconnect. */
function unitOptions(id: string, secret: string, extra: Partial<IClientOptions>): IClientOptions {
  return {
    clientId: id,
    username: id,
    password: secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  }
}

/** Connects like a unit does. */
export async function connectUnit(
  url: UnitTarget,
  id: string,
  secret: string,
  extra: Partial<IClientOptions> = {},
): Promise<MqttClient> {
  const client = open(url, unitOptions(id, secret, extra))
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

/** Resolves with the CONNACK return code of a refused connection. */
export async function refusedCode(
  url: UnitTarget,
  id: string,
  secret: string,
  extra: Partial<IClientOptions> = {},
): Promise<number> {
  const client = open(url, unitOptions(id, secret, extra))
  try {
    return await new Promise<number>((resolve, reject) => {
      client.once('connect', () => reject(new Error('connection was accepted')))
      client.once('error', (err) => {
        const code = (err as { code?: number }).code
        if (typeof code === 'number') resolve(code)
        else reject(err)
      })
    })
  } finally {
    client.end(true)
  }
}

export function publish(
  client: MqttClient,
  topic: string,
  payload: unknown,
  qos: 0 | 1 = 1,
  retain = false,
): Promise<void> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload)
  return new Promise((resolve, reject) => {
    client.publish(topic, body, { qos, retain }, (err) => (err ? reject(err) : resolve()))
  })
}

export function end(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(false, {}, () => resolve()))
}

/** The payload of the next message `client` receives on exactly `topic`, as text. */
export function nextMessage(client: MqttClient, topic: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const on = (t: string, payload: Buffer) => {
      if (t !== topic) return
      client.off('message', on)
      resolve(payload.toString())
    }
    client.on('message', on)
  })
}

/**
 * The QoS granted for one subscription, or 128 when refused: a SUBACK 0x80,
 * which mqtt.js reports as an error.
 */
export function granted(client: MqttClient, topic: string): Promise<number> {
  return new Promise<number>((resolve) =>
    client.subscribe(topic, { qos: 1 }, (err, g) => resolve(err ? 128 : (g?.[0]?.qos ?? -1))),
  )
}

/** MQTT 3.1.1 CONNECT [§3.1] with client id = user name and a password, built by hand. */
export function connectPacket(id: string, secret: string, keepaliveS = 60): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s)
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
  }
  const body = Buffer.concat([
    str('MQTT'),
    // level 4; flags: user name, password, clean session
    Buffer.from([4, 0xc2, keepaliveS >> 8, keepaliveS & 0xff]),
    str(id),
    str(id),
    str(secret),
  ])
  if (body.length > 127) throw new Error('connectPacket builds one-byte remaining lengths only')
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

/**
 * Sends one CONNECT over a fresh TCP connection from `localAddress` (any of 127.0.0.0/8 on Linux, to
 * stand for another source address) and resolves with the CONNACK return code, or 'closed' if the
 * connection ended without one. The connection is closed either way. `prefix` goes before the CONNECT,
 * in the same write (a PROXY protocol header).
 */
export function connackCode(
  port: number,
  id: string,
  secret: string,
  localAddress = '127.0.0.1',
  prefix: Buffer = Buffer.alloc(0),
): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress })
    const done = (code: number | 'closed') => {
      s.destroy()
      resolve(code)
    }
    s.once('data', (d) => done(d[0] === 0x20 && d.length >= 4 ? (d[3] ?? 'closed') : 'closed'))
    s.once('error', () => done('closed'))
    s.once('close', () => done('closed'))
    s.write(Buffer.concat([prefix, connectPacket(id, secret)]))
  })
}
