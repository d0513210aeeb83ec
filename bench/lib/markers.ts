import { topicFor } from '@doorstep/proto'
import mqtt, { type MqttClient } from 'mqtt'
import { percentile } from './proc.js'

/**
 * Publish-to-stored latency, measured from outside: a unit of the bench's own
 * publishes a heartbeat with a unique `uptimeS` every `everyMs`, and a poller
 * notes when each first shows in InfluxDB. Resolution is the poll interval.
 */
export class StoredLatencyProbe {
  readonly #sentAt = new Map<number, number>()
  readonly #latencies: number[] = []
  #client: MqttClient | null = null
  #timer: NodeJS.Timeout | null = null
  #polling: Promise<void> | null = null
  #running = false
  #seq = 0

  constructor(
    private readonly o: {
      mqttUrl: string
      id: string
      secret: string
      influxUrl: string
      db: string
      everyMs?: number
      pollMs?: number
    },
  ) {}

  async start(): Promise<void> {
    const c = mqtt.connect(this.o.mqttUrl, {
      clientId: this.o.id,
      username: this.o.id,
      password: this.o.secret,
      protocolVersion: 4,
      reconnectPeriod: 1000,
    })
    // Errors (a CONNACK that comes too late under load) are the client's to retry, not the bench's to
    // die of: a listener for the client's whole life, and the first connect waits for success only.
    c.on('error', () => {})
    const connected = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 60_000)
      c.once('connect', () => {
        clearTimeout(t)
        resolve(true)
      })
    })
    if (!connected) {
      c.end(true)
      throw new Error(`marker ${this.o.id} could not connect within 60 s`)
    }
    this.#client = c
    this.#running = true
    this.#timer = setInterval(() => {
      const n = 1_000_000_000 + this.#seq++
      this.#sentAt.set(n, performance.now())
      c.publish(
        topicFor('heartbeat', this.o.id),
        JSON.stringify({
          v: 1,
          ts: Date.now(),
          uptimeS: n,
          storageFreeMb: 1,
          storageTotalMb: 2,
          recording: true,
          signalDbm: -50,
          temperatureC: 20,
        }),
        { qos: 0 },
      )
    }, this.o.everyMs ?? 200)
    this.#polling = this.#poll()
  }

  async #poll(): Promise<void> {
    const seen = new Set<number>()
    const q = encodeURIComponent(
      `SELECT uptime_s FROM heartbeat WHERE device = '${this.o.id}' AND uptime_s >= 1000000000 AND time > now() - 10m`,
    )
    while (this.#running || seen.size < this.#sentAt.size) {
      const now = performance.now()
      try {
        const res = await fetch(`${this.o.influxUrl}/query?db=${this.o.db}&q=${q}`)
        const body = (await res.json()) as {
          results: Array<{ series?: Array<{ values: Array<[string, number]> }> }>
        }
        for (const [, n] of body.results[0]?.series?.[0]?.values ?? []) {
          const sent = this.#sentAt.get(n)
          if (sent !== undefined && !seen.has(n)) {
            seen.add(n)
            this.#latencies.push(now - sent)
          }
        }
      } catch {
        // InfluxDB busy: try again next round.
      }
      if (!this.#running && performance.now() - now > 0 && seen.size >= this.#sentAt.size) break
      await new Promise((r) => setTimeout(r, this.o.pollMs ?? 50))
      if (!this.#running && this.#stopDeadline && performance.now() > this.#stopDeadline) break
    }
  }

  #stopDeadline = 0

  async stop(): Promise<{ samples: number; lost: number; p50: number; p99: number; max: number }> {
    if (this.#timer) clearInterval(this.#timer)
    this.#running = false
    this.#stopDeadline = performance.now() + 10_000
    await this.#polling
    this.#client?.end(true)
    const l = [...this.#latencies].sort((a, b) => a - b)
    const r = (n: number) => Math.round(n * 10) / 10
    return {
      samples: l.length,
      lost: this.#sentAt.size - l.length,
      p50: r(percentile(l, 50)),
      p99: r(percentile(l, 99)),
      max: r(l.at(-1) ?? Number.NaN),
    }
  }
}
