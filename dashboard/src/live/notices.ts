import { Store } from '../lib/store.js'

export interface Notice {
  id: number
  tone: 'info' | 'warning' | 'error'
  text: string
  at: number
}

/**
 * Short messages about the feed itself (a gap, dropped alerts, a gateway
 * restart). The same text repeated replaces the older one instead of piling up.
 */
export class Notices {
  readonly store = new Store<readonly Notice[]>([])
  #next = 1

  push(tone: Notice['tone'], text: string): void {
    const kept = this.store.get().filter((n) => n.text !== text)
    this.store.set([...kept, { id: this.#next++, tone, text, at: Date.now() }].slice(-5))
  }

  dismiss(id: number): void {
    this.store.set(this.store.get().filter((n) => n.id !== id))
  }

  clear(): void {
    this.store.set([])
  }
}
