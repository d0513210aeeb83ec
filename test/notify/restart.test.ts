import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { startTestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { notifyApi } from './helpers.js'

describe('notify across a restart', () => {
  it('keeps its rules, channels and VAPID key (0600); a webhook secret still never shows', async () => {
    const first = await startTestGateway()
    const n = notifyApi(first.gateway.httpUrl, first.adminToken)
    const hook = await n.channel({ type: 'webhook', name: 'desk', url: 'http://127.0.0.1:9/hook' })
    const rule = await n.rule({ name: 'offline all', kind: 'offline', channels: [hook.id] })
    const key = (
      await api<{ publicKey: string }>(
        first.gateway.httpUrl,
        'GET',
        '/api/v1/notify/push/key',
        first.adminToken,
      )
    ).body.publicKey
    const vapidFile = path.join(first.dataDir, 'notify', 'vapid.json')
    expect(fs.statSync(vapidFile).mode & 0o777).toBe(0o600)
    await first.stop({ keepData: true })

    const again = await startTestGateway({ DOORSTEP_DATA_DIR: first.dataDir })
    try {
      const base = again.gateway.httpUrl
      const token = again.adminToken
      expect(
        (await api<{ publicKey: string }>(base, 'GET', '/api/v1/notify/push/key', token)).body.publicKey,
      ).toBe(key)
      const rules = await api<{ rules: Array<{ id: string }> }>(base, 'GET', '/api/v1/notify/rules', token)
      expect(rules.body.rules.map((r) => r.id)).toEqual([rule.id])
      const channels = await api(base, 'GET', '/api/v1/notify/channels', token)
      expect(JSON.stringify(channels.body)).not.toContain(hook.secret as string)
      expect(JSON.stringify(channels.body)).toContain(hook.id)
    } finally {
      await again.stop()
      fs.rmSync(first.dataDir, { recursive: true, force: true })
    }
  })

  it('an SMTP login needs a server and both halves; the password is never echoed', () => {
    const problems = (env: Record<string, string>) => {
      try {
        configFrom(env)
        return ''
      } catch (err) {
        return (err as Error).message
      }
    }
    expect(problems({ DOORSTEP_SMTP_USER: 'u', DOORSTEP_SMTP_PASSWORD: 'pw-secret-1' })).toContain(
      'need DOORSTEP_SMTP_HOST',
    )
    const half = problems({ DOORSTEP_SMTP_HOST: 'mail.test', DOORSTEP_SMTP_PASSWORD: 'pw-secret-2' })
    expect(half).toContain('DOORSTEP_SMTP_USER: needed')
    expect(half).not.toContain('pw-secret-2')
    expect(problems({ DOORSTEP_PUSH_SUBJECT: 'ops@police.test' })).toContain('DOORSTEP_PUSH_SUBJECT')
    expect(configFrom({ DOORSTEP_SMTP_HOST: 'mail.test' }).notify.smtp).toMatchObject({
      port: 587,
      tls: 'starttls',
    })
  })
})
