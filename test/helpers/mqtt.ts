import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'

/** Options a unit connects with: MQTT 3.1.1, client id = username = device id, no automatic reconnect. */
function unitOptions(id: string, secret: string, extra: Partial<IClientOptions>): IClientOptions {
  return {
    clientId: id,
    username: id,
    password: secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  }
}

/** Connects like a unit does. */
export async function connectUnit(
  url: string,
  id: string,
  secret: string,
  extra: Partial<IClientOptions> = {},
): Promise<MqttClient> {
  const client = mqtt.connect(url, unitOptions(id, secret, extra))
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

/** Resolves with the CONNACK return code of a refused connection. */
export async function refusedCode(
  url: string,
  id: string,
  secret: string,
  extra: Partial<IClientOptions> = {},
): Promise<number> {
  const client = mqtt.connect(url, unitOptions(id, secret, extra))
  try {
    return await new Promise<number>((resolve, reject) => {
      client.once('connect', () => reject(new Error('connection was accepted')))
      client.once('error', (err) => {
        const code = (err as { code?: number }).code
        if (typeof code === 'number') resolve(code)
        else reject(err)
      })
    })
  } finally {
    client.end(true)
  }
}

export function publish(
  client: MqttClient,
  topic: string,
  payload: unknown,
  qos: 0 | 1 = 1,
  retain = false,
): Promise<void> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload)
  return new Promise((resolve, reject) => {
    client.publish(topic, body, { qos, retain }, (err) => (err ? reject(err) : resolve()))
  })
}

export function end(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(false, {}, () => resolve()))
}
