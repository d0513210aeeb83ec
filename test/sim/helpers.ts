import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { Aedes, AedesOptions, AedesPublishPacket } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import { type ClipFile, describeFile } from '../../device-sim/src/clips.js'

/** A real aedes broker over TCP on 127.0.0.1, port chosen by the OS. */
export interface TestBroker {
  aedes: Aedes
  url: string
  /** Every publish the broker routed, in order (including wills). */
  published: AedesPublishPacket[]
  close(): Promise<void>
}

export async function startBroker(opts: AedesOptions = {}): Promise<TestBroker> {
  const { Aedes } = await import('aedes')
  const aedes = await Aedes.createBroker(opts)
  const published: AedesPublishPacket[] = []
  aedes.on('publish', (packet) => {
    if (packet.topic.startsWith('cam/')) published.push(packet)
  })
  const server = net.createServer(aedes.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    aedes,
    url: `mqtt://127.0.0.1:${port}`,
    published,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Payloads published on one topic, parsed. */
export function payloadsOn(b: TestBroker, topic: string): unknown[] {
  return b.published.filter((p) => p.topic === topic).map((p) => JSON.parse(p.payload.toString()))
}

/** A plain client playing the gateway's side. */
export async function observer(url: string): Promise<MqttClient> {
  const c = mqtt.connect(url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    clientId: `obs-${process.pid}-${Date.now()}`,
  })
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
  })
  return c
}

/** A tiny stand-in clip file (the real ones come from ffmpeg; see clips.test.ts). */
export async function fakeClip(dir: string, bytes = 300_000): Promise<ClipFile> {
  const file = path.join(dir, `clip-${bytes}.mp4`)
  const buf = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i++) buf[i] = (i * 31 + 7) & 0xff
  fs.writeFileSync(file, buf)
  const d = await describeFile(file)
  return { path: file, ...d, durationMs: 1_000, codec: 'h264' }
}
