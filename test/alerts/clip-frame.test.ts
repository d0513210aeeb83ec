import type { ServerFrame } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'

type ClipFrame = Extract<ServerFrame, { type: 'clip' }>
const clipFrames = (frames: ServerFrame[]) => frames.filter((f): f is ClipFrame => f.type === 'clip')

/*
 * The feed shows a thumbnail only for events whose clip is ready. The gateway says so on the alert
 * socket the moment the thumbnail exists, so a dashboard neither polls nor asks on the off chance.
 */
describe('clip frames on the alert socket (real gateway, real ffmpeg clips)', () => {
  let t: TestGateway
  let fixtures: { dir: string; cleanup: () => void }
  let near: MqttClient
  let far: MqttClient
  let camNear: { id: string; secret: string }
  let camFar: { id: string; secret: string }

  beforeAll(async () => {
    fixtures = tempDir('doorstep-clip-frame-')
    t = await startTestGateway()
    camNear = await t.gateway.registry.create(deviceRow({ id: 'cam-frame-1', district: 12 }))
    camFar = await t.gateway.registry.create(deviceRow({ id: 'cam-frame-2', district: 40 }))
    near = await connectUnit(t.gateway.mqttUrl, camNear.id, camNear.secret)
    far = await connectUnit(t.gateway.mqttUrl, camFar.id, camFar.secret)
  })
  afterAll(async () => {
    if (near) await end(near)
    if (far) await end(far)
    await t?.stop()
    fixtures?.cleanup()
  })

  it('tells sockets of the clip’s district once its thumbnail is made, and no one else', async () => {
    const all = await openAlerts(t.gateway.httpUrl, t.adminToken)
    const other = await openAlerts(t.gateway.httpUrl, t.adminToken)
    other.ws.send(JSON.stringify({ type: 'subscribe', districts: [40] }))
    try {
      const clip = makeClip(fixtures.dir, 'porch', { seconds: 2 })
      const eventId = await announce(near, camNear.id, clipInfo(clip))
      expect(clipFrames(all.frames)).toEqual([])
      const put = await putClip(t.gateway.httpUrl, eventId, basic(camNear.id, camNear.secret), clip.buf)
      expect(put.status).toBe(201)

      await until('a clip frame', () => clipFrames(all.frames).length > 0, 20_000)
      const [frame] = clipFrames(all.frames)
      expect(frame).toEqual({
        type: 'clip',
        eventId,
        deviceId: camNear.id,
        district: 12,
        thumbUrl: `/api/v1/clips/${eventId}/thumb`,
      })
      // By the time the frame is sent the thumbnail exists: the first request for it succeeds.
      const thumb = await fetch(`${t.gateway.httpUrl}${frame?.thumbUrl}`, { headers: bearer(t.adminToken) })
      expect(thumb.status).toBe(200)
      expect(thumb.headers.get('content-type')).toBe('image/webp')

      // The district-40 socket gets its own unit's alert, queued after the clip frame had it been sent.
      const farEvent = await announce(far, camFar.id, undefined, { kind: 'tamper' })
      await until(
        'the far unit’s alert',
        () => other.frames.some((f) => f.type === 'alert' && f.alert.eventId === farEvent),
        10_000,
      )
      expect(clipFrames(other.frames)).toEqual([])
      expect(clipFrames(all.frames)).toHaveLength(1)
    } finally {
      all.close()
      other.close()
    }
  }, 60_000)
})
