import mqtt, { type MqttClient } from 'mqtt'

/**
 * Connects like a unit (MQTT 3.1.1, client id = username = device id) with
 * TCP_NODELAY, retrying with backoff while the gateway answers CONNACK 3
 * (its admission limits), as real units do.
 */
export async function connectUnit(url: string, id: string, secret: string): Promise<MqttClient> {
  for (let attempt = 0; ; attempt++) {
    const c = mqtt.connect(url, {
      clientId: id,
      username: id,
      password: secret,
      protocolVersion: 4,
      reconnectPeriod: 0,
    })
    try {
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve())
        c.once('error', reject)
      })
    } catch (err) {
      c.end(true)
      if ((err as { code?: number }).code !== 3 || attempt >= 20) throw err
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(2000, 50 * 2 ** attempt)))
      continue
    }
    ;(c.stream as unknown as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true)
    return c
  }
}
