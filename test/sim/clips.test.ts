import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { ensureClips } from '../../device-sim/src/clips.js'
import { tempDir } from '../helpers/tmp.js'

describe('clips: real H.264 made once with ffmpeg, then reused', () => {
  const tmp = tempDir('doorstep-sim-')
  afterAll(() => tmp.cleanup())

  it('encodes a variant, describes it exactly, and reuses the cached file', async () => {
    const [clip] = await ensureClips({ cacheDir: tmp.dir, variants: 1 })
    expect(clip).toBeDefined()
    const c = clip!
    const bytes = fs.readFileSync(c.path)
    expect(c.bytes).toBe(bytes.length)
    expect(c.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    expect(c).toMatchObject({ durationMs: 4_000, codec: 'h264' })
    const probe = JSON.parse(
      execFileSync(
        'ffprobe',
        [
          '-v',
          'error',
          '-show_entries',
          'stream=codec_name,width,height:format=duration',
          '-of',
          'json',
          c.path,
        ],
        {
          encoding: 'utf8',
        },
      ),
    ) as {
      streams: Array<{ codec_name: string; width: number; height: number }>
      format: { duration: string }
    }
    expect(probe.streams[0]).toMatchObject({ codec_name: 'h264', width: 640, height: 360 })
    expect(Math.abs(Number(probe.format.duration) * 1000 - c.durationMs)).toBeLessThan(100)

    const mtime = fs.statSync(c.path).mtimeMs
    const t0 = Date.now()
    const [again] = await ensureClips({ cacheDir: tmp.dir, variants: 1 })
    expect(Date.now() - t0).toBeLessThan(1_000)
    expect(again).toEqual(c)
    expect(fs.statSync(c.path).mtimeMs).toBe(mtime)
    // No temp files left behind.
    expect(fs.readdirSync(tmp.dir).filter((f) => f.includes('.tmp'))).toEqual([])
  })

  it('says plainly when ffmpeg is missing', async () => {
    await expect(
      ensureClips({ cacheDir: `${tmp.dir}/none`, variants: 1, ffmpegPath: '/nonexistent/ffmpeg' }),
    ).rejects.toThrow(/ffmpeg not found/)
  })
})
