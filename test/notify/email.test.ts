import type { AddressInfo } from 'node:net'
import { topicFor } from '@doorstep/proto'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { capturingLogger, notifyApi } from './helpers.js'

interface Mail {
  from: string
  to: string[]
  data: string
}

const USER = 'doorstep-mailer'
const PASSWORD = 'smtp-pass-7f3a9c1e5b'

/** A local SMTP sink on a free loopback port: it takes mail from the gateway's login only and keeps it. */
async function startSmtpSink(): Promise<{
  port: number
  mails: Mail[]
  logins: number
  close(): Promise<void>
}> {
  const mails: Mail[] = []
  const state = { logins: 0 }
  const server = new SMTPServer({
    // Plain SMTP on loopback: no certificate to make, and the login still has to be right.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASSWORD) {
        state.logins++
        cb(null, { user: USER })
      } else cb(new Error('bad login'))
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString(),
        })
        cb()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo
  return {
    port,
    mails,
    get logins() {
      return state.logins
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

describe('notifications by email (a local SMTP sink)', () => {
  let t: TestGateway
  let sink: Awaited<ReturnType<typeof startSmtpSink>>
  const logs = capturingLogger()

  beforeAll(async () => {
    sink = await startSmtpSink()
    t = await startTestGateway(
      {
        DOORSTEP_SMTP_HOST: '127.0.0.1',
        DOORSTEP_SMTP_PORT: sink.port,
        DOORSTEP_SMTP_TLS: 'off',
        DOORSTEP_SMTP_USER: USER,
        DOORSTEP_SMTP_PASSWORD: PASSWORD,
        DOORSTEP_SMTP_FROM: 'Doorstep <notify@doorstep.test>',
        DOORSTEP_NOTIFY_RETRY_BASE_MS: 100,
      },
      { log: logs.log },
    )
  })
  afterAll(async () => {
    await t?.stop()
    await sink?.close()
  })

  it('a tamper and a unit that stopped recording arrive as mail to the channel recipients', async () => {
    const n = notifyApi(t.gateway.httpUrl, t.adminToken)
    const mail = await n.channel({ type: 'email', name: 'desk', to: ['desk@police.test', 'ops@police.test'] })
    expect(mail.secret).toBeNull()
    const tamper = await n.rule({ name: 'tamper anywhere', kind: 'tamper', channels: [mail.id] })
    const rec = await n.rule({
      name: 'not recording 51',
      kind: 'not-recording',
      district: 51,
      channels: [mail.id],
    })
    const c = await t.gateway.registry.create(
      deviceRow({ id: 'cam-nt-mail', district: 51, address: '9 Elm St' }),
    )
    const unit = await connectUnit(t.gateway.mqttUrl, c.id, c.secret)
    await publish(unit, topicFor('event', c.id), event({ kind: 'tamper' }))
    await expect.poll(() => sink.mails.length, { timeout: 10_000 }).toBe(1)
    const [m] = sink.mails
    expect(m?.from).toBe('notify@doorstep.test')
    expect(m?.to.sort()).toEqual(['desk@police.test', 'ops@police.test'])
    expect(m?.data).toMatch(/^Subject: \[Doorstep\] critical: tamper at cam-nt-mail \(9 Elm St\)/m)
    expect(m?.data).toContain('Unit: cam-nt-mail')
    expect(sink.logins).toBeGreaterThan(0)
    await expect.poll(async () => (await n.notifications(tamper.id)).map((x) => x.status)).toEqual(['sent'])

    // Recording stops: told once, on the change, not for each heartbeat that repeats it.
    for (let i = 0; i < 3; i++)
      await publish(unit, topicFor('heartbeat', c.id), heartbeat({ recording: false }))
    await expect.poll(() => sink.mails.length, { timeout: 10_000 }).toBe(2)
    expect(sink.mails[1]?.data).toContain('stopped recording')
    await expect.poll(async () => (await n.notifications(rec.id)).map((x) => x.status)).toEqual(['sent'])
    await end(unit)
    expect(logs.text().includes(PASSWORD)).toBe(false)
  })
})
