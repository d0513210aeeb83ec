import type { Alert } from '@doorstep/proto'

/**
 * An alert as the dashboard holds it. `epoch` counts gateway restarts seen by
 * this page: alert ids restart at 1 with the gateway, so (epoch, id) is the
 * identity, and a later epoch is always newer.
 */
export interface HeldAlert extends Alert {
  epoch: number
}

function newer(a: HeldAlert, b: HeldAlert): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.id > b.id)
}

const keyOf = (epoch: number, id: number) => `${epoch}:${id}`

/**
 * The newest alerts, newest first, at most `capacity`, each once. Ids are
 * monotonic, so live alerts land at the head in O(1); replays after a
 * reconnect may arrive older than the head and are placed in order.
 * Immutable snapshots: `add` returns whether anything changed and `list` is a
 * new array after each change, so views compare by reference.
 */
export class AlertBuffer {
  readonly capacity: number
  #list: HeldAlert[] = []
  readonly #keys = new Set<string>()

  constructor(capacity = 1000) {
    this.capacity = capacity
  }

  get list(): readonly HeldAlert[] {
    return this.#list
  }

  /** The alert of an event, for opening event details before the events API answers. */
  byEventId(eventId: string): HeldAlert | undefined {
    return this.#list.find((a) => a.eventId === eventId)
  }

  add(alerts: readonly Alert[], epoch: number): boolean {
    let next: HeldAlert[] | null = null
    for (const a of alerts) {
      const key = keyOf(epoch, a.id)
      if (this.#keys.has(key)) continue
      const held: HeldAlert = { ...a, epoch }
      const cur = next ?? this.#list
      const head = cur[0]
      let at = 0
      if (head && !newer(held, head)) {
        // Binary search for the first element older than `held`.
        let lo = 0
        let hi = cur.length
        while (lo < hi) {
          const mid = (lo + hi) >>> 1
          if (newer(cur[mid] as HeldAlert, held)) lo = mid + 1
          else hi = mid
        }
        // Older than everything a full buffer holds: it would be dropped at once.
        if (lo >= this.capacity) continue
        at = lo
      }
      next ??= this.#list.slice()
      if (at === 0) next.unshift(held)
      else next.splice(at, 0, held)
      this.#keys.add(key)
    }
    if (!next) return false
    while (next.length > this.capacity) {
      const old = next.pop() as HeldAlert
      this.#keys.delete(keyOf(old.epoch, old.id))
    }
    this.#list = next
    return true
  }

  clear(): void {
    this.#list = []
    this.#keys.clear()
  }
}
