import type { NotificationPayload } from '@doorstep/proto'
import nodemailer, { type Transporter } from 'nodemailer'
import type { Config } from '../config.js'

type Smtp = NonNullable<Config['notify']['smtp']>

/** One SMTP transport for the gateway's life; `close()` ends its pooled connections. */
export class EmailSender {
  readonly #smtp: Smtp | null
  readonly #timeoutMs: number
  #transport: Transporter | null = null

  constructor(smtp: Smtp | null, timeoutMs: number) {
    this.#smtp = smtp
    this.#timeoutMs = timeoutMs
  }

  open(): void {
    const s = this.#smtp
    if (!s) return
    this.#transport = nodemailer.createTransport({
      host: s.host,
      port: s.port,
      secure: s.tls === 'implicit',
      requireTLS: s.tls === 'starttls',
      ignoreTLS: s.tls === 'off',
      ...(s.user ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
      connectionTimeout: this.#timeoutMs,
      greetingTimeout: this.#timeoutMs,
      socketTimeout: this.#timeoutMs,
      // Nodemailer's own logger would print the SMTP dialogue, AUTH included.
      logger: false,
      debug: false,
    })
  }

  close(): void {
    this.#transport?.close()
    this.#transport = null
  }

  /** The password, so that a failure's text can be scrubbed of it. */
  get secret(): string | undefined {
    return this.#smtp?.password
  }

  async send(to: readonly string[], p: NotificationPayload): Promise<void> {
    const t = this.#transport
    const s = this.#smtp
    if (!t || !s) throw new Error('no SMTP server is configured (DOORSTEP_SMTP_HOST)')
    await t.sendMail({
      from: s.from,
      to: [...to],
      subject: `[Doorstep] ${p.severity}: ${p.message}`,
      text: emailText(p),
      headers: { 'X-Doorstep-Notification': p.id },
    })
  }
}

function emailText(p: NotificationPayload): string {
  const lines = [
    p.message,
    '',
    `Rule: ${p.rule}`,
    `Kind: ${p.kind}`,
    `Severity: ${p.severity}`,
    ...(p.deviceId ? [`Unit: ${p.deviceId}`] : []),
    ...(p.district !== null ? [`District: ${p.district}`] : []),
    ...(p.campaignId ? [`Campaign: ${p.campaignId}`] : []),
    ...(p.suppressedCount > 0 ? [`Repeats held back in the window: ${p.suppressedCount}`] : []),
    `At: ${new Date(p.at).toISOString()}`,
  ]
  return `${lines.join('\n')}\n`
}
