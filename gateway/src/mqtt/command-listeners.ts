import { topicFor } from '@doorstep/proto'
import type { Aedes, Client, Subscription } from 'aedes'
import type { EventBus } from '../event-bus.js'

/** What a feature that sends commands to units needs of the MQTT broker. */
export interface CommandChannel {
  publish(topic: string, payload: string, opts: { qos: 0 | 1 }): Promise<void>
  isConnected(deviceId: string): boolean
  /** The aedes instance, for `subscribe` and `clientReady` events; null when stopped. */
  readonly aedes: Aedes | null
}

export interface CommandListenerHooks {
  /** The unit is connected and may be listening now: send it what waits for it. */
  ready(deviceId: string): void
  /** The unit left: what it had in flight waits for its return. */
  gone(deviceId: string): void
}

/**
 * Which connected units listen on their `cam/{id}/cmd` topic. A command
 * published before the unit's SUBSCRIBE is lost on a clean session, so the
 * pull dispatcher and the firmware rollout send only to units in this set:
 * a SUBSCRIBE seen, or a persistent session's subscriptions restored.
 */
export class CommandListeners {
  readonly #listening = new Set<string>()
  readonly #broker: CommandChannel
  readonly #bus: EventBus
  readonly #hooks: CommandListenerHooks
  #off: Array<() => void> = []

  constructor(broker: CommandChannel, bus: EventBus, hooks: CommandListenerHooks) {
    this.#broker = broker
    this.#bus = bus
    this.#hooks = hooks
  }

  has(deviceId: string): boolean {
    return this.#listening.has(deviceId)
  }

  start(): void {
    const onSubscribe = (subs: Subscription[], client: Client) => {
      // qos 128 is a refused subscription (MQTT 3.1.1 §3.9.3).
      if (!subs.some((s) => s.topic === topicFor('cmd', client.id) && (s.qos as number) !== 128)) return
      this.#listening.add(client.id)
      if (this.#broker.isConnected(client.id)) this.#hooks.ready(client.id)
    }
    // A persistent session's subscriptions are restored before the unit counts as connected; this
    // runs after the broker's own listener, which emits `device.connected`.
    const onReady = (client: Client) => {
      // aedes keeps a client's subscriptions on `client.subscriptions` (lib/client.js); its types omit it.
      const subs = (client as Client & { subscriptions?: Record<string, unknown> }).subscriptions ?? {}
      if (topicFor('cmd', client.id) in subs) this.#listening.add(client.id)
      this.#hooks.ready(client.id)
    }
    const aedes = this.#broker.aedes
    if (aedes) {
      aedes.on('subscribe', onSubscribe)
      aedes.on('clientReady', onReady)
      this.#off.push(() => {
        aedes.off('subscribe', onSubscribe)
        aedes.off('clientReady', onReady)
      })
    }
    this.#off.push(
      this.#bus.on('device.disconnected', ({ deviceId }) => {
        this.#listening.delete(deviceId)
        this.#hooks.gone(deviceId)
      }),
    )
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#listening.clear()
  }
}
