import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NotAVideoError, probe } from '../../gateway/src/media/ffmpeg.js'
import { videoThumbnail, webpThumbnail } from '../../gateway/src/media/thumbnail.js'
import { makeClip } from '../clips/helpers.js'
import { descendants, running } from '../helpers/process.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

/** Our own tool processes (run by the gateway's tool runner) whose command line names `file`. */
function childrenNaming(file: string): number[] {
  return descendants((_comm, argv) => argv.includes(file))
}

/**
 * A FIFO no one writes to: ffprobe and ffmpeg block opening it, like a tool
 * wedged on a crafted input. Whatever still waits on it at the end is
 * released by opening its other end.
 */
function stalledInput(dir: string, name: string): { file: string; release: () => void } {
  const file = path.join(dir, name)
  execFileSync('mkfifo', [file])
  return {
    file,
    release: () => {
      try {
        fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK))
      } catch {
        // no reader left: nothing to release
      }
    },
  }
}

describe('ffprobe and ffmpeg are fenced: killed on timeout, local files only, known containers only', () => {
  let tmp: { dir: string; cleanup: () => void }
  beforeAll(() => {
    tmp = tempDir('doorstep-media-')
  })
  afterAll(() => tmp?.cleanup())

  it('kills an ffprobe that never finishes and rejects the file as not a video', async () => {
    const input = stalledInput(tmp.dir, 'stalled-probe')
    const started = Date.now()
    const result = probe(input.file, 1500).then(
      () => null,
      (err: unknown) => err,
    )
    let pid = 0
    try {
      pid = (await until('ffprobe to start on the stalled input', () => childrenNaming(input.file)[0])) ?? 0
      const err = await result
      expect(err).toBeInstanceOf(NotAVideoError)
      expect((err as Error).message).toMatch(/ffprobe timed out after 1500 ms/)
      expect(Date.now() - started).toBeLessThan(10_000)
      // Settled only once the process has exited: none is left blocked on the input.
      expect(running(pid)).toBe(false)
    } finally {
      input.release()
    }
  })

  it('kills an ffmpeg making a thumbnail that never finishes', async () => {
    const input = stalledInput(tmp.dir, 'stalled-frame')
    const result = videoThumbnail(input.file, 2000, 1500).then(
      () => null,
      (err: unknown) => err,
    )
    try {
      const pid = await until('ffmpeg to start on the stalled input', () => childrenNaming(input.file)[0])
      const err = await result
      expect((err as Error).message).toMatch(/timed out after 1500 ms/)
      expect(running(pid)).toBe(false)
    } finally {
      input.release()
    }
  })

  it('does not follow a concat list in an upload to another file on the gateway', async () => {
    // The file a crafted upload names: a FIFO, so that opening it would be seen (it blocks).
    const target = stalledInput(tmp.dir, 'other-units-partial')
    const list = path.join(tmp.dir, 'upload')
    fs.writeFileSync(list, 'ffconcat version 1.0\nfile other-units-partial\nduration 2\n')
    try {
      const err = await probe(list, 5000).then(
        () => null,
        (e: unknown) => e,
      )
      // Without the format whitelist ffprobe opened the named file and hung on it until the timeout.
      expect(err).toBeInstanceOf(NotAVideoError)
      expect((err as Error).message).not.toMatch(/timed out/)
      expect((err as Error).message).not.toContain(tmp.dir)
    } finally {
      target.release()
    }
    // A real clip still probes.
    const clip = makeClip(tmp.dir, 'real')
    expect((await probe(clip.path)).codec).toBe('h264')
  })

  it('makes a tall video thumbnail from a frame scaled into the 320 x 960 box', async () => {
    const file = path.join(tmp.dir, 'tall.mp4')
    execFileSync('ffmpeg', [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=64x2048:rate=10'],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', file],
    ])
    const meta = await sharp(await videoThumbnail(file, 1000)).metadata()
    // Scaled to 320 px wide as before, this frame would have made a 320 x 10240 image.
    expect(meta.format).toBe('webp')
    expect(meta.height).toBeLessThanOrEqual(960)
    expect((meta.width ?? 0) * (meta.height ?? 0)).toBeLessThanOrEqual(320 * 960)
  })

  it('sharp refuses a frame with more pixels than the thumbnail box', async () => {
    const big = await sharp({
      create: { width: 2000, height: 2000, channels: 3, background: { r: 0, g: 0, b: 0 } },
    })
      .png()
      .toBuffer()
    await expect(webpThumbnail(big)).rejects.toThrow(/pixel limit/i)
    const fits = await sharp({
      create: { width: 320, height: 240, channels: 3, background: { r: 0, g: 0, b: 0 } },
    })
      .png()
      .toBuffer()
    expect((await sharp(await webpThumbnail(fits)).metadata()).width).toBe(320)
  })
})
