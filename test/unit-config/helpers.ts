import { type ConfigDesired, type ConfigReported, DEFAULT_UNIT_CONFIG, topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { connectUnit, granted } from '../helpers/mqtt.js'

/** A unit played by hand over MQTT, with what arrived on its config topic. */
export interface ConfigListener {
  client: MqttClient
  received: ConfigDesired[]
}

/** Connects like a unit (a persistent session unless `clean`); with `subscribe`, to its config topic. */
export async function configUnit(
  url: string,
  id: string,
  secret: string,
  opts: { clean?: boolean; subscribe?: boolean } = {},
): Promise<ConfigListener> {
  const client = await connectUnit(url, id, secret, { clean: opts.clean ?? false })
  const received: ConfigDesired[] = []
  client.on('message', (topic, payload) => {
    if (topic === topicFor('config', id)) received.push(JSON.parse(payload.toString()) as ConfigDesired)
  })
  if (opts.subscribe ?? true) {
    const qos = await granted(client, topicFor('config', id))
    if (qos !== 1) throw new Error(`config subscription granted ${qos}`)
  }
  return { client, received }
}

/** A valid report for `version`: applied, or refused with `refused` as its reason. */
export function report(version: number, refused?: string): ConfigReported {
  const base = { v: 1 as const, ts: Date.now(), version, running: DEFAULT_UNIT_CONFIG }
  return refused
    ? { ...base, applied: false, reason: refused, runningVersion: 0 }
    : { ...base, applied: true, runningVersion: version }
}
