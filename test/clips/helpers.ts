import { execFileSync } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { type ClipInfo, type DeviceEvent, topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { publish } from '../helpers/mqtt.js'

export interface ClipFile {
  path: string
  buf: Buffer
  bytes: number
  sha256: string
  durationMs: number
}

export function fileInfo(file: string, durationMs = 2000): ClipFile {
  const buf = fs.readFileSync(file)
  return {
    path: file,
    buf,
    bytes: buf.length,
    sha256: createHash('sha256').update(buf).digest('hex'),
    durationMs,
  }
}

/**
 * A real H.264 clip from ffmpeg's test source. `tag` lands in the container
 * metadata so that clips made with different tags differ in content (and sha256).
 */
export function makeClip(
  dir: string,
  name: string,
  opts: { tag?: string; seconds?: number; big?: boolean } = {},
): ClipFile {
  const out = path.join(dir, `${name}.mp4`)
  const seconds = opts.seconds ?? 2
  const args = opts.big
    ? // Noise defeats compression: lossless H.264 of it is about 11 MB a second at 640x480.
      ['-f', 'lavfi', '-i', `testsrc=duration=${seconds}:size=640x480:rate=25,noise=alls=100:allf=t`]
    : ['-f', 'lavfi', '-i', `testsrc=duration=${seconds}:size=320x240:rate=10`]
  const codec = opts.big ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0'] : ['-c:v', 'libx264']
  execFileSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-y',
      ...args,
      ...codec,
      '-pix_fmt',
      'yuv420p',
      '-metadata',
      `comment=${opts.tag ?? name}`,
      out,
    ],
    { stdio: 'pipe' },
  )
  return fileInfo(out, seconds * 1000)
}

export function clipInfo(f: { bytes: number; sha256: string; durationMs?: number }): ClipInfo {
  return { bytes: f.bytes, sha256: f.sha256, durationMs: f.durationMs ?? 2000, codec: 'h264' }
}

/** Publishes an event's start and end (with its clip) the way a unit does, QoS 1. */
export async function announce(
  unit: MqttClient,
  deviceId: string,
  clip: ClipInfo | undefined,
  over: Partial<DeviceEvent> = {},
): Promise<string> {
  const eventId = over.eventId ?? randomUUID()
  const ts = over.ts ?? Date.now()
  const base = { v: 1 as const, eventId, kind: over.kind ?? ('person' as const), score: over.score ?? 0.8 }
  await publish(unit, topicFor('event', deviceId), { ...base, ts, phase: 'start' })
  await publish(unit, topicFor('event', deviceId), {
    ...base,
    ts: ts + (clip?.durationMs ?? 1000),
    phase: 'end',
    ...(over.zone ? { zone: over.zone } : {}),
    ...(clip ? { clip } : {}),
  })
  return eventId
}

/** PUT of a clip body (or part of one) as a unit sends it. */
export function putClip(
  base: string,
  eventId: string,
  auth: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}/api/v1/clips/${eventId}`, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': 'video/mp4', ...headers },
    // A copy typed as fetch's BodyInit wants it (a Buffer may sit on a SharedArrayBuffer).
    body: new Uint8Array(body),
  })
}

export async function uploadOffset(base: string, eventId: string, auth: string): Promise<number> {
  const res = await fetch(`${base}/api/v1/clips/${eventId}`, {
    method: 'HEAD',
    headers: { authorization: auth },
  })
  if (res.status !== 200) throw new Error(`HEAD answered ${res.status}`)
  return Number(res.headers.get('upload-offset'))
}
