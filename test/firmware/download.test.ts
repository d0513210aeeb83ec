import { createHash, createPublicKey, verify } from 'node:crypto'
import {
  type CommandAck,
  type FirmwareKey,
  firmwareStatement,
  topicFor,
  UpdateCommand,
} from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, basic } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { until } from '../helpers/wait.js'
import { campaignAction, campaignUnits, createCampaign, FIRMWARE_ENV, uploadImage } from './helpers.js'

/** A unit over real MQTT that collects the update commands it is sent and reports what the test says. */
class UpdateUnit {
  readonly commands: UpdateCommand[] = []
  #client: MqttClient | null = null
  constructor(
    readonly id: string,
    readonly secret: string,
  ) {}

  async connect(mqttUrl: string): Promise<void> {
    const client = await connectUnit(mqttUrl, this.id, this.secret)
    this.#client = client
    client.on('message', (_t, payload) => {
      const cmd = UpdateCommand.safeParse(JSON.parse(String(payload)))
      if (cmd.success) this.commands.push(cmd.data)
    })
    await new Promise<void>((resolve, reject) =>
      client.subscribe(topicFor('cmd', this.id), { qos: 1 }, (err) => (err ? reject(err) : resolve())),
    )
  }

  async ack(cmdId: string, status: CommandAck['status'], extra: Partial<CommandAck> = {}): Promise<void> {
    await publish(this.#client as MqttClient, topicFor('cmdAck', this.id), {
      v: 1,
      ts: Date.now(),
      cmdId,
      status,
      ...extra,
    })
  }

  download(base: string, path: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${base}${path}`, { headers: { authorization: basic(this.id, this.secret), ...headers } })
  }

  async disconnect(): Promise<void> {
    if (this.#client) await end(this.#client)
    this.#client = null
  }
}

describe('firmware downloads: offered units only, with Range; the district budget; the signature', () => {
  let gw: TestGateway
  let base: string
  const units: Record<string, UpdateUnit> = {}
  let image: Awaited<ReturnType<typeof uploadImage>>

  beforeAll(async () => {
    gw = await startTestGateway(FIRMWARE_ENV)
    base = gw.gateway.httpUrl
    for (const [id, district] of [
      ['fw-a1', 20],
      ['fw-a2', 20],
      ['fw-a3', 20],
      ['fw-b1', 21],
      ['fw-other', 22],
    ] as const) {
      const c = await gw.gateway.registry.create(
        deviceRow({ id, district, model: 'DS-X1', firmware: '1.0.0' }),
      )
      units[id] = new UpdateUnit(c.id, c.secret)
      await units[id].connect(gw.gateway.mqttUrl)
    }
    image = await uploadImage(base, gw.adminToken, 'DS-X1', '1.1.0')
    expect(image.status).toBe(201)
  })
  afterAll(async () => {
    for (const u of Object.values(units)) await u.disconnect().catch(() => {})
    await gw?.stop()
  })

  const u = (id: string) => units[id] as UpdateUnit

  it('stores the image by its sha256 and signs it with the public firmware key', async () => {
    expect(image.body.sha256).toBe(createHash('sha256').update(image.bytes).digest('hex'))
    expect(image.body.size).toBe(image.bytes.length)
    const key = (await api<FirmwareKey>(base, 'GET', '/api/v1/firmware/key', '')).body
    expect(key.fingerprint).toBe(image.body.keyFingerprint)
    // A key of its own: not the evidence key.
    expect(key.fingerprint).not.toBe(gw.gateway.evidenceKeys.fingerprint)
    const statement = firmwareStatement('DS-X1', '1.1.0', image.body.size, image.body.sha256)
    const pub = createPublicKey(key.publicKey)
    expect(verify(null, Buffer.from(statement), pub, Buffer.from(image.body.signature, 'base64url'))).toBe(
      true,
    )
    // Any other statement (another version) does not verify.
    const forged = firmwareStatement('DS-X1', '9.9.9', image.body.size, image.body.sha256)
    expect(verify(null, Buffer.from(forged), pub, Buffer.from(image.body.signature, 'base64url'))).toBe(false)
    // One model and version is one image.
    const again = await uploadImage(base, gw.adminToken, 'DS-X1', '1.1.0')
    expect(again.status).toBe(409)
    expect(again.body.error?.code).toBe('DOORSTEP_ERR_FIRMWARE_EXISTS')
  })

  it('only admins upload; ops list, investigators do not', async () => {
    const ops = (await gw.gateway.tokens.issue('ops-fw', 'ops')).token
    const inv = (await gw.gateway.tokens.issue('inv-fw', 'investigator')).token
    expect((await uploadImage(base, ops, 'DS-X1', '7.0.0')).status).toBe(403)
    expect((await api(base, 'GET', '/api/v1/firmware/images', ops)).status).toBe(200)
    expect((await api(base, 'GET', '/api/v1/campaigns', inv)).status).toBe(403)
    const c = await api(base, 'POST', '/api/v1/campaigns', ops, {
      name: 'x',
      imageId: image.body.id,
      fromVersions: { min: '1.0.0', max: '1.0.0' },
      districts: [20],
    })
    expect(c.status).toBe(403)
  })

  it('offers one unit of a district at a time; a unit not offered the image cannot download it', async () => {
    const path = `/api/v1/firmware/images/${image.body.id}/download`
    // No campaign offers it to anyone yet.
    const early = await u('fw-a1').download(base, path)
    expect(early.status).toBe(403)
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe(
      'DOORSTEP_ERR_FIRMWARE_NOT_OFFERED',
    )

    const c = await createCampaign(gw, {
      imageId: image.body.id,
      fromVersions: { min: '1.0.0', max: '1.0.9' },
      districts: [20, 21],
      canaryPct: 100,
      waves: [100],
      districtConcurrency: 1,
    })
    expect(c.units).toBe(4)
    await campaignAction(gw, c.id, 'start')
    // One unit of district 20 and the one of district 21 get the offer; the other two of 20 wait.
    await until(
      'two offers',
      () => ['fw-a1', 'fw-a2', 'fw-a3', 'fw-b1'].filter((id) => u(id).commands.length > 0).length === 2,
    )
    expect(u('fw-b1').commands).toHaveLength(1)
    const first = ['fw-a1', 'fw-a2', 'fw-a3'].find((id) => u(id).commands.length > 0) as string
    const waiting = ['fw-a1', 'fw-a2', 'fw-a3'].filter((id) => id !== first)
    const cmd = u(first).commands[0] as UpdateCommand
    expect(cmd).toMatchObject({ version: '1.1.0', sha256: image.body.sha256, size: image.body.size, path })

    // The waiting ones and the unit outside the campaign are refused the image.
    for (const id of [...waiting, 'fw-other']) expect((await u(id).download(base, path)).status).toBe(403)

    // The offered unit downloads half, is cut, and resumes with a Range request.
    const half = Math.floor(image.body.size / 2)
    const head = await u(first).download(base, path, { range: `bytes=0-${half - 1}` })
    expect(head.status).toBe(206)
    const a = Buffer.from(await head.arrayBuffer())
    await u(first).ack(cmd.cmdId, 'downloading', { bytes: a.length })
    const tail = await u(first).download(base, path, {
      range: `bytes=${a.length}-`,
      'if-range': `"${cmd.sha256}"`,
    })
    expect(tail.status).toBe(206)
    expect(tail.headers.get('content-range')).toBe(
      `bytes ${a.length}-${image.body.size - 1}/${image.body.size}`,
    )
    const whole = Buffer.concat([a, Buffer.from(await tail.arrayBuffer())])
    expect(createHash('sha256').update(whole).digest('hex')).toBe(cmd.sha256)
    // A stale validator gets the whole image (RFC 9110 §13.1.5), a range past the end 416.
    expect((await u(first).download(base, path, { range: 'bytes=10-', 'if-range': '"other"' })).status).toBe(
      200,
    )
    expect((await u(first).download(base, path, { range: `bytes=${image.body.size}-` })).status).toBe(416)

    // Progress is visible per unit.
    await until('downloading bytes', async () => {
      const row = (await campaignUnits(gw, c.id)).find((x) => x.deviceId === first)
      return row?.state === 'downloading' && row.bytes === a.length
    })
    // Still only one of district 20 at a time while it verifies...
    await u(first).ack(cmd.cmdId, 'verifying')
    await until(
      'verifying',
      async () => (await campaignUnits(gw, c.id)).find((x) => x.deviceId === first)?.state === 'verifying',
    )
    // ...and the budget frees once it is past downloading: the next unit of the district gets its offer.
    await until('next offer', () => waiting.some((id) => u(id).commands.length > 0))
    expect(waiting.filter((id) => u(id).commands.length > 0)).toHaveLength(1)

    await u(first).ack(cmd.cmdId, 'installing')
    await u(first).ack(cmd.cmdId, 'done')
    await until(
      'done',
      async () => (await campaignUnits(gw, c.id)).find((x) => x.deviceId === first)?.state === 'done',
    )
    // Done: the image is no longer offered to it.
    expect((await u(first).download(base, path)).status).toBe(403)
    // An ack from another unit with this command id changes nothing.
    await u('fw-other').ack(cmd.cmdId, 'failed', { reason: 'not mine' })
    await campaignAction(gw, c.id, 'cancel', { reason: 'test over' })
    const rows = await campaignUnits(gw, c.id)
    expect(rows.find((x) => x.deviceId === first)?.state).toBe('done')
    expect(rows.filter((x) => x.state === 'skipped')).toHaveLength(1)
  })
})
