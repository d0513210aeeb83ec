import fs from 'node:fs'
import type { ErrorBody } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { descendants } from '../helpers/process.js'
import { tempDir } from '../helpers/tmp.js'
import { announce, clipInfo, makeClip, putClip } from './helpers.js'

/** Our own ffprobe processes (run by the gateway's tool runner) still running. */
function ffprobeChildren(): number[] {
  return descendants((comm) => comm === 'ffprobe')
}

describe('a probe that runs out of time (DOORSTEP_MEDIA_TIMEOUT_MS)', () => {
  let t: TestGateway
  let fixtures: { dir: string; cleanup: () => void }
  beforeAll(async () => {
    fixtures = tempDir('doorstep-probe-timeout-')
    // No ffprobe finishes in 1 ms: every probe here runs out of time.
    t = await startTestGateway({ DOORSTEP_MEDIA_TIMEOUT_MS: 1 })
  })
  afterAll(async () => {
    await t?.stop()
    fixtures?.cleanup()
  })

  it('kills ffprobe, rejects the clip (422, state rejected) and removes its partial', async () => {
    const cam = await t.gateway.registry.create(deviceRow({ id: 'cam-probe-slow' }))
    const unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    try {
      const clip = makeClip(fixtures.dir, 'slow')
      const eventId = await announce(unit, cam.id, clipInfo(clip))
      const res = await putClip(t.gateway.httpUrl, eventId, basic(cam.id, cam.secret), clip.buf)
      expect(res.status).toBe(422)
      const body = (await res.json()) as ErrorBody
      expect(body.error.code).toBe('DOORSTEP_ERR_CLIP_NOT_VIDEO')
      expect(body.error.message).toMatch(/ffprobe timed out after 1 ms/)
      expect((await t.gateway.events.clipEvents.get(eventId))?.clip.state).toBe('rejected')
      expect(fs.existsSync(t.gateway.clips.store.partialPath(eventId))).toBe(false)
      // The answer came after the killed ffprobe had exited: none is left running.
      expect(ffprobeChildren()).toEqual([])
    } finally {
      await end(unit)
    }
  })
})
