import { randomUUID } from 'node:crypto'
import { Command, type CommandAck, type PullView, topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import type { ClipFile } from '../clips/helpers.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end, publish, type UnitTarget } from '../helpers/mqtt.js'
import { until } from '../helpers/wait.js'

export interface TestUnitOptions {
  baseUrl: string
  /** A URL, or a stream maker (a connection that first sends a PROXY header, as a load balancer does). */
  mqttUrl: UnitTarget
  id: string
  secret: string
  /** What the unit uploads for any pull. */
  clip: ClipFile
  /** `never`: refuses pulls unless the command carries a legal order, like the simulator's units. */
  policy?: 'always' | 'ask' | 'never'
  /** Upload the first half, report it, then wait for `release()` before the rest. */
  holdHalfway?: boolean
  /** Connect with a persistent session (clean: false). */
  persistent?: boolean
}

/**
 * A camera unit over real MQTT/TCP and HTTP: subscribes to its `cmd` topic,
 * answers `pull` commands with acks, uploads the recording to the command's
 * `uploadPath` (resumable: HEAD for the offset, then PUT with Content-Range)
 * and reports progress. Treats a repeated cmdId as the same command.
 */
export class TestUnit {
  readonly commands: Command[] = []
  readonly #pings = new Set<string>()
  readonly acks: CommandAck[] = []
  #client: MqttClient | null = null
  #gate: Promise<void> = Promise.resolve()
  #open: () => void = () => {}
  #uploads: Promise<void>[] = []
  /** Commands whose upload is under way: a repeat of one is the same command. */
  readonly #inflight = new Set<string>()
  #abort = new AbortController()
  /** Every PUT sent: where it started and ended (exclusive). */
  readonly puts: Array<{ cmdId: string; from: number; to: number; status: number }> = []

  constructor(readonly o: TestUnitOptions) {
    if (o.holdHalfway) this.hold()
  }

  get auth(): string {
    return basic(this.o.id, this.o.secret)
  }

  /** Makes the next upload stop halfway until `release()`. */
  hold(): void {
    this.#gate = new Promise((r) => {
      this.#open = r
    })
  }

  release(): void {
    this.#open()
  }

  /** `subscribe: false` relies on a persistent session the broker restores. */
  async connect(opts: { subscribe?: boolean } = {}): Promise<void> {
    const client = await connectUnit(this.o.mqttUrl, this.o.id, this.o.secret, {
      clean: !this.o.persistent,
    })
    this.#client = client
    client.on('message', (_topic, payload) => this.#onCommand(payload))
    if (opts.subscribe === false) return
    await new Promise<void>((resolve, reject) =>
      client.subscribe(topicFor('cmd', this.o.id), { qos: 1 }, (err) => (err ? reject(err) : resolve())),
    )
  }

  async disconnect(): Promise<void> {
    const c = this.#client
    this.#client = null
    if (c) await end(c)
  }

  /** Loses the uplink: the MQTT connection drops without DISCONNECT, and uploads break off. */
  drop(): void {
    this.#client?.stream.destroy()
    this.#client?.end(true)
    this.#client = null
    this.#abort.abort(new Error('uplink lost'))
    this.#abort = new AbortController()
  }

  get client(): MqttClient {
    if (!this.#client) throw new Error(`${this.o.id} is not connected`)
    return this.#client
  }

  async settled(): Promise<void> {
    await Promise.allSettled(this.#uploads)
  }

  async #ack(a: Omit<CommandAck, 'v' | 'ts'>): Promise<void> {
    const ack: CommandAck = { v: 1, ts: Date.now(), ...a }
    this.acks.push(ack)
    if (this.#client) await publish(this.#client, topicFor('cmdAck', this.o.id), ack)
  }

  /**
   * Resolves once every command the gateway published to this unit before
   * the call has arrived: a ping published now on the same topic comes
   * behind them (MQTT 3.1.1 section 4.6, ordered per topic and QoS). Pings
   * are kept apart from `commands`.
   */
  async drained(broker: {
    publish(topic: string, payload: string, opts: { qos: 0 | 1 }): Promise<void>
  }): Promise<void> {
    const cmdId = randomUUID()
    const ping = { v: 1, ts: Date.now(), cmdId, action: 'ping' }
    await broker.publish(topicFor('cmd', this.o.id), JSON.stringify(ping), { qos: 1 })
    await until(`${this.o.id} gets the ping`, () => this.#pings.has(cmdId))
  }

  #onCommand(payload: Buffer): void {
    const cmd = Command.parse(JSON.parse(payload.toString('utf8')))
    if (cmd.action === 'ping') {
      this.#pings.add(cmd.cmdId)
      return
    }
    this.commands.push(cmd)
    if (cmd.action !== 'pull') return
    if (this.o.policy === 'never' && !cmd.legalOrder) {
      void this.#ack({ cmdId: cmd.cmdId, status: 'refused', reason: 'policy never' })
      return
    }
    if (this.#inflight.has(cmd.cmdId)) return
    this.#inflight.add(cmd.cmdId)
    const signal = this.#abort.signal
    this.#uploads.push(
      this.#upload(cmd, signal)
        .catch((err: Error) => {
          if (!signal.aborted)
            return this.#ack({ cmdId: cmd.cmdId, status: 'failed', reason: err.message.slice(0, 200) })
        })
        .finally(() => this.#inflight.delete(cmd.cmdId)),
    )
  }

  async #upload(cmd: Extract<Command, { action: 'pull' }>, signal: AbortSignal): Promise<void> {
    await this.#ack({ cmdId: cmd.cmdId, status: 'accepted' })
    const url = `${this.o.baseUrl}${cmd.uploadPath}`
    const { bytes } = this.o.clip
    const head = await fetch(url, { method: 'HEAD', headers: { authorization: this.auth }, signal })
    if (head.status !== 200) throw new Error(`HEAD ${head.status}`)
    if (head.headers.get('doorstep-clip-state') === 'ready') {
      await this.#ack({ cmdId: cmd.cmdId, status: 'done', bytes })
      return
    }
    let offset = Number(head.headers.get('upload-offset') ?? 0)
    const half = Math.floor(bytes / 2)
    if (offset < half) {
      await this.#put(cmd.cmdId, url, offset, half, signal)
      offset = half
      await this.#ack({ cmdId: cmd.cmdId, status: 'uploading', bytes: half })
    }
    await Promise.race([
      this.#gate,
      new Promise((_r, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      ),
    ])
    const res = await this.#put(cmd.cmdId, url, offset, bytes, signal)
    if (res.status !== 201 && res.status !== 200) throw new Error(`PUT ${res.status} ${await res.text()}`)
    await this.#ack({ cmdId: cmd.cmdId, status: 'done', bytes })
  }

  async #put(cmdId: string, url: string, from: number, to: number, signal: AbortSignal): Promise<Response> {
    const { buf, bytes } = this.o.clip
    const res = await fetch(url, {
      signal,
      method: 'PUT',
      headers: {
        authorization: this.auth,
        'content-type': 'video/mp4',
        'content-range': `bytes ${from}-${to - 1}/${bytes}`,
      },
      body: new Uint8Array(buf.subarray(from, to)),
    })
    this.puts.push({ cmdId, from, to, status: res.status })
    return res
  }
}

export function pullOf(pulls: PullView[], deviceId: string): PullView {
  const p = pulls.find((x) => x.deviceId === deviceId)
  if (!p) throw new Error(`no pull for ${deviceId}`)
  return p
}
