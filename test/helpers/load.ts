import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { influxRows } from './influx-query.js'
import { event } from './payloads.js'
import { until } from './wait.js'

/** No load loop runs longer than this, whatever happens to the test. */
const LOAD_CAP_MS = 90_000

export interface LoadUnit {
  id: string
  client: MqttClient
}

export interface DurableLoad {
  /** Event ids whose PUBACK came back. */
  readonly acked: Set<string>
  /** The same, by unit id. */
  readonly ackedBy: ReadonlyMap<string, readonly string[]>
  /** Event ids mqtt.js gave up on with an error (a unit never should). */
  readonly failed: string[]
  /** Stops sending, then waits until every unit is connected with nothing left unacknowledged. */
  stop(): Promise<void>
}

/** QoS 1 publishes a unit has sent and not yet had acknowledged (mqtt.js keeps them across reconnects). */
function inFlight(client: MqttClient): number {
  return Object.keys(client.outgoing).length
}

/**
 * Every unit sends a fresh durable event (`motion`, QoS 1) every `gapMs` until `stop()`; the ids
 * acknowledged are collected. A publish held through an outage is not waited on (the unit keeps
 * recording meanwhile): mqtt.js keeps it and sends it again after its reconnect, and it settles then.
 * Units must connect with `clean: false` and a `reconnectPeriod`, as firmware does.
 */
export function durableLoad(units: readonly LoadUnit[], gapMs = 25): DurableLoad {
  const acked = new Set<string>()
  const ackedBy = new Map<string, string[]>(units.map((u) => [u.id, []]))
  const failed: string[] = []
  let running = true
  const deadline = Date.now() + LOAD_CAP_MS
  const pause = () => new Promise((r) => setTimeout(r, gapMs))
  const loops = units.map(async (u) => {
    const topic = topicFor('event', u.id)
    while (running && Date.now() < deadline) {
      const ev = event({ kind: 'motion' })
      const settled = new Promise<void>((resolve) => {
        u.client.publish(topic, JSON.stringify(ev), { qos: 1 }, (err) => {
          if (err) failed.push(ev.eventId)
          else {
            acked.add(ev.eventId)
            ackedBy.get(u.id)?.push(ev.eventId)
          }
          resolve()
        })
      })
      await Promise.race([settled, pause()])
      await pause()
    }
  })
  return {
    acked,
    ackedBy,
    failed,
    async stop() {
      running = false
      await Promise.all(loops)
      try {
        await until(
          'every unit connected with nothing unacknowledged',
          () => units.every((u) => u.client.connected && inFlight(u.client) === 0),
          30_000,
        )
      } catch (err) {
        const stuck = units
          .filter((u) => !u.client.connected || inFlight(u.client) > 0)
          .map(
            (u) =>
              `${u.id} (${u.client.connected ? 'connected' : 'not connected'}, ${inFlight(u.client)} in flight)`,
          )
        throw new Error(`${(err as Error).message}: ${stuck.join(', ')}`)
      }
    },
  }
}

/**
 * The acknowledged ids not (yet) in InfluxDB's `event` measurement of `db`, polled until there are
 * none or `waitMs` has passed: what was acknowledged may still be on its way from a spool.
 */
export async function notStored(
  influxUrl: string,
  db: string,
  acked: ReadonlySet<string>,
  waitMs = 20_000,
): Promise<string[]> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const rows = await influxRows(
      influxUrl,
      db,
      `SELECT event_id FROM "events_1y".event WHERE phase = 'start'`,
    )
    const have = new Set(rows.map((r) => String(r.event_id)))
    const missing = [...acked].filter((id) => !have.has(id))
    if (missing.length === 0 || Date.now() > deadline) return missing
    await new Promise((r) => setTimeout(r, 250))
  }
}
