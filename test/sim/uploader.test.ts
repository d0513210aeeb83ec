import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClipFile } from '../../device-sim/src/clips.js'
import { HttpClipUploader, UploadError } from '../../device-sim/src/uploader.js'
import { tempDir } from '../helpers/tmp.js'
import { fakeClip } from './helpers.js'

/**
 * A stand-in for the gateway's clip endpoint, on 127.0.0.1: HEAD says how
 * much it holds (Upload-Offset while partial), PUT takes `Content-Range`
 * parts at the current offset, and it can cut the first request half way.
 */
function clipServer(opts: { cutFirstPutAt?: number; expectAuth: string; firstStatuses?: number[] }) {
  const held = new Map<string, Buffer>()
  const stored = new Set<string>()
  const log: string[] = []
  let puts = 0
  const counts = { requests: 0 }
  const server = http.createServer((req, res) => {
    counts.requests++
    const id = (req.url ?? '').split('/').pop() ?? ''
    const scripted = opts.firstStatuses?.shift()
    if (scripted !== undefined) {
      log.push(`${req.method} -> ${scripted}`)
      res.writeHead(scripted)
      res.end()
      return
    }
    if (req.headers.authorization !== opts.expectAuth) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'DOORSTEP_ERR_UNAUTHENTICATED', message: 'no' } }))
      return
    }
    if (req.method === 'HEAD') {
      log.push(`HEAD ${held.get(id)?.length ?? '-'}`)
      const buf = held.get(id)
      if (!buf) res.writeHead(404)
      else if (stored.has(id)) res.writeHead(200, { 'content-length': buf.length })
      else res.writeHead(200, { 'upload-offset': buf.length })
      res.end()
      return
    }
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range']))
    const start = Number(m?.[1])
    const total = Number(m?.[3])
    const have = held.get(id) ?? Buffer.alloc(0)
    log.push(`PUT ${req.headers['content-range']}`)
    if (!m || start !== have.length) {
      res.writeHead(409)
      res.end()
      return
    }
    const first = puts++ === 0
    const chunks: Buffer[] = [have]
    let got = have.length
    req.on('data', (c: Buffer) => {
      chunks.push(c)
      got += c.length
      held.set(id, Buffer.concat(chunks))
      if (first && opts.cutFirstPutAt !== undefined && got - have.length >= opts.cutFirstPutAt)
        req.socket.destroy()
    })
    req.on('end', () => {
      const buf = Buffer.concat(chunks)
      held.set(id, buf)
      const done = buf.length === total
      if (done) stored.add(id)
      res.writeHead(done ? 200 : 202, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({ eventId: id, state: done ? 'stored' : 'partial', received: buf.length, total }),
      )
    })
  })
  return { server, held, stored, log, counts }
}

describe('HTTP clip uploader (resumable PUT with HEAD + Content-Range)', () => {
  const tmp = tempDir('doorstep-sim-')
  let clip: ClipFile
  const auth = `Basic ${Buffer.from('cam-00001:sekrit-sekrit').toString('base64')}`
  const ctx = { deviceId: 'cam-00001', secret: 'sekrit-sekrit' }

  beforeAll(async () => {
    clip = await fakeClip(tmp.dir, 400_000)
  })
  afterAll(() => tmp.cleanup())

  async function serve(s: ReturnType<typeof clipServer>) {
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r))
    return `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`
  }

  it('uploads in one go when nothing is held, the bytes matching the announced sha256', async () => {
    const s = clipServer({ expectAuth: auth })
    const base = await serve(s)
    const id = '0b9e1c1e-5d0a-4d6e-9a43-2f1d3c4b5a60'
    const progress: number[] = []
    await new HttpClipUploader({ baseUrl: base }).upload(id, clip, (b) => progress.push(b), ctx)
    expect(createHash('sha256').update(s.held.get(id)!).digest('hex')).toBe(clip.sha256)
    expect(s.log).toEqual(['HEAD -', `PUT bytes 0-${clip.bytes - 1}/${clip.bytes}`])
    expect(progress[0]).toBe(0)
    expect(progress.at(-1)).toBe(clip.bytes)
    s.server.close()
  })

  it('resumes after the connection is cut half way: HEAD, then the rest from the held offset', async () => {
    const s = clipServer({ expectAuth: auth, cutFirstPutAt: 150_000 })
    const base = await serve(s)
    const id = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f'
    await new HttpClipUploader({ baseUrl: base }).upload(id, clip, () => {}, ctx)
    expect(s.stored.has(id)).toBe(true)
    expect(createHash('sha256').update(s.held.get(id)!).digest('hex')).toBe(clip.sha256)
    const resumed = s.log.filter((l) => l.startsWith('PUT'))[1]
    const from = Number(/bytes (\d+)-/.exec(resumed ?? '')?.[1])
    expect(from).toBeGreaterThanOrEqual(150_000)
    expect(from).toBeLessThan(clip.bytes)
    s.server.close()
  })

  it('does nothing more when the gateway already holds the whole clip', async () => {
    const s = clipServer({ expectAuth: auth })
    const base = await serve(s)
    const id = '2c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f'
    const up = new HttpClipUploader({ baseUrl: base })
    await up.upload(id, clip, () => {}, ctx)
    s.log.length = 0
    await up.upload(id, clip, () => {}, ctx)
    expect(s.log).toEqual([`HEAD ${clip.bytes}`])
    s.server.close()
  })

  it('gives up at once on a refusal (401), with the error code, and never retries it', async () => {
    const s = clipServer({ expectAuth: 'Basic nobody' })
    const base = await serve(s)
    const err = await new HttpClipUploader({ baseUrl: base })
      .upload('3c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f', clip, () => {}, ctx)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UploadError)
    expect((err as UploadError).status).toBe(401)
    // A HEAD answer has no body, so the status is all there is to report.
    expect((err as UploadError).message).toMatch(/HTTP 401/)
    expect(s.counts.requests).toBe(1)
    expect((err as UploadError).message).not.toContain('sekrit')
    s.server.close()
  })

  it('retries "too many uploads at once" (429) and gets through; a full quota (507) ends the upload', async () => {
    const busy = clipServer({ expectAuth: auth, firstStatuses: [429, 429] })
    const id = '4c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f'
    await new HttpClipUploader({ baseUrl: await serve(busy) }).upload(id, clip, () => {}, ctx)
    expect(busy.stored.has(id)).toBe(true)
    expect(busy.log.slice(0, 2)).toEqual(['HEAD -> 429', 'HEAD -> 429'])
    busy.server.close()

    const full = clipServer({ expectAuth: auth, firstStatuses: [507] })
    const err = await new HttpClipUploader({ baseUrl: await serve(full) })
      .upload(id, clip, () => {}, ctx)
      .catch((e: unknown) => e)
    expect((err as UploadError).status).toBe(507)
    expect(full.counts.requests).toBe(1)
    full.server.close()
  })

  it('a slow uplink is throttled to its byte rate', async () => {
    const s = clipServer({ expectAuth: auth })
    const base = await serve(s)
    const small = await fakeClip(tmp.dir, 60_000)
    const t0 = Date.now()
    await new HttpClipUploader({ baseUrl: base }).upload(
      '4c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      small,
      () => {},
      {
        ...ctx,
        bytesPerS: 100_000,
      },
    )
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500)
    s.server.close()
  })
})
