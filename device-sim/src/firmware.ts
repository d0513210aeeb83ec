import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto'
import { FirmwareKey, firmwareStatement, type UpdateCommand } from '@doorstep/proto'
import type { AckBody } from './commands.js'

/** Injected failures of a firmware update, each a probability per update. */
export interface FirmwareFaults {
  /** The download is cut halfway once; the unit resumes it with a Range request (not a failure). */
  cutRate: number
  /** The download keeps failing: the unit gives up and reports `failed`. */
  badDownloadRate: number
  /** A byte of the image arrives changed: the sha256 check fails and the unit reports `failed`. */
  checksumRate: number
  /** The new firmware does not boot: the unit rolls back to the old one and reports `rolled-back`. */
  bootFailRate: number
}

export const NO_FIRMWARE_FAULTS: FirmwareFaults = {
  cutRate: 0,
  badDownloadRate: 0,
  checksumRate: 0,
  bootFailRate: 0,
}

/** What an update needs of its unit. */
export interface UpdateHost {
  deviceId: string
  /** Device secret, for HTTP Basic auth. Never logged. */
  secret: string
  /** The firmware running now. */
  firmware(): string
  ack(a: AckBody): void
  /** Sends `a` and resolves once the gateway acknowledged it (before a reboot loses it). */
  ackDurably(a: AckBody): Promise<void>
  /** Reboots into `firmware`; `afterBoot` is reported once the unit is back online (after `hello`). */
  reboot(firmware: string, afterBoot: AckBody): void
  random(): number
}

export interface FirmwareUpdaterOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080 */
  baseUrl: string
  faults?: Partial<FirmwareFaults>
  /**
   * The public key images must be signed with (PEM). Unset: fetched once from the gateway's
   * `/api/v1/firmware/key`, as a unit's factory image would carry it.
   */
  publicKeyPem?: string
  /** How long installing takes, ms. */
  installMs?: number
}

/**
 * Carries out `update` commands for every unit of a fleet: download with HTTP Range (resuming where
 * a cut left it, also across a reconnect, since the partial image is kept by command id), check size,
 * sha256 and the signature over `firmwareStatement`, install, reboot. Progress goes out as acks:
 * `downloading` (bytes, at most once a quarter), `verifying`, `installing`, then after the reboot
 * `done` or `rolled-back`; `failed` with a reason.
 */
export class FirmwareUpdater {
  readonly #o: FirmwareUpdaterOptions
  readonly #faults: FirmwareFaults
  #key: Promise<KeyObject> | null = null
  /** Downloaded bytes by command id: a repeated command resumes from here. */
  readonly #partial = new Map<string, Buffer[]>()
  /** Commands being carried out: a repeat while one runs is the same command. */
  readonly #running = new Set<string>()

  constructor(o: FirmwareUpdaterOptions) {
    this.#o = o
    this.#faults = { ...NO_FIRMWARE_FAULTS, ...o.faults }
  }

  /** Bytes held for a command (tests check a resumed download). */
  held(cmdId: string): number {
    return (this.#partial.get(cmdId) ?? []).reduce((n, b) => n + b.length, 0)
  }

  run(cmd: UpdateCommand, host: UpdateHost): void {
    if (this.#running.has(cmd.cmdId)) return
    if (cmd.version === host.firmware()) {
      host.ack({ cmdId: cmd.cmdId, status: 'done' })
      return
    }
    this.#running.add(cmd.cmdId)
    this.#update(cmd, host)
      .catch((err: Error) => {
        host.ack({ cmdId: cmd.cmdId, status: 'failed', reason: String(err.message).slice(0, 200) })
      })
      .finally(() => this.#running.delete(cmd.cmdId))
  }

  async #update(cmd: UpdateCommand, host: UpdateHost): Promise<void> {
    const f = this.#faults
    const r = host.random
    const cut = r() < f.cutRate
    if (r() < f.badDownloadRate) {
      this.#partial.delete(cmd.cmdId)
      throw new Error('download failed: connection reset')
    }
    const image = await this.#download(cmd, host, cut)
    host.ack({ cmdId: cmd.cmdId, status: 'verifying' })
    if (r() < f.checksumRate) {
      const i = Math.floor(image.length / 2)
      image.writeUInt8(image.readUInt8(i) ^ 0xff, i)
    }
    this.#partial.delete(cmd.cmdId)
    if (image.length !== cmd.size) throw new Error(`size mismatch: got ${image.length}, expected ${cmd.size}`)
    const sha = createHash('sha256').update(image).digest('hex')
    if (sha !== cmd.sha256) throw new Error('sha256 mismatch')
    const key = await this.#publicKey()
    const statement = firmwareStatement(cmd.model, cmd.version, cmd.size, cmd.sha256)
    if (!verify(null, Buffer.from(statement), key, Buffer.from(cmd.signature, 'base64url')))
      throw new Error('bad signature')
    await host.ackDurably({ cmdId: cmd.cmdId, status: 'installing' })
    await new Promise((res) => setTimeout(res, this.#o.installMs ?? 50))
    const old = host.firmware()
    if (r() < f.bootFailRate) {
      host.reboot(old, { cmdId: cmd.cmdId, status: 'rolled-back', reason: `${cmd.version} did not boot` })
    } else {
      host.reboot(cmd.version, { cmdId: cmd.cmdId, status: 'done' })
    }
  }

  /** GET with `Range: bytes=N-` from what is held; a cut (fault) stops halfway and the loop resumes. */
  async #download(cmd: UpdateCommand, host: UpdateHost, cutOnce: boolean): Promise<Buffer> {
    const parts = this.#partial.get(cmd.cmdId) ?? []
    this.#partial.set(cmd.cmdId, parts)
    let held = parts.reduce((n, b) => n + b.length, 0)
    let cut = cutOnce
    let quarter = -1
    for (let attempt = 0; held < cmd.size; attempt++) {
      if (attempt > 5) throw new Error('download failed: too many attempts')
      const auth = Buffer.from(`${host.deviceId}:${host.secret}`).toString('base64')
      const headers: Record<string, string> = {
        authorization: `Basic ${auth}`,
        'if-range': `"${cmd.sha256}"`,
      }
      if (held > 0) headers.range = `bytes=${held}-`
      const ac = new AbortController()
      const res = await fetch(`${this.#o.baseUrl}${cmd.path}`, { headers, signal: ac.signal })
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel()
        throw new Error(`download failed: HTTP ${res.status}`)
      }
      // A 200 is the whole image again (the gateway ignored the range): start over.
      if (res.status === 200 && held > 0) {
        parts.length = 0
        held = 0
      }
      if (!res.body) throw new Error('download failed: no body')
      try {
        for await (const chunk of res.body) {
          const buf = Buffer.from(chunk as Uint8Array)
          parts.push(buf)
          held += buf.length
          const q = Math.min(3, Math.floor((4 * held) / cmd.size))
          if (q > quarter && held < cmd.size) {
            quarter = q
            host.ack({ cmdId: cmd.cmdId, status: 'downloading', bytes: held })
          }
          if (cut && held >= cmd.size / 2) {
            cut = false
            ac.abort()
            break
          }
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err
      }
    }
    host.ack({ cmdId: cmd.cmdId, status: 'downloading', bytes: held })
    return Buffer.concat(parts)
  }

  #publicKey(): Promise<KeyObject> {
    if (!this.#key) {
      const pem = this.#o.publicKeyPem
      this.#key = pem
        ? Promise.resolve(createPublicKey(pem))
        : fetch(`${this.#o.baseUrl}/api/v1/firmware/key`)
            .then(async (res) => FirmwareKey.parse(await res.json()))
            .then((k) => createPublicKey(k.publicKey))
      // A failed fetch is tried again by the next update.
      this.#key.catch(() => {
        this.#key = null
      })
    }
    return this.#key
  }
}
