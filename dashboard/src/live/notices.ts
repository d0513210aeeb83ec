import type { MessageKey } from '../i18n/catalogue.js'
import type { MessageValues } from '../i18n/translator.js'
import { Store } from '../lib/store.js'

export interface Notice {
  id: number
  tone: 'info' | 'warning' | 'error'
  /** The message, put into words by the view in the reader's language (which may change while it shows). */
  key: MessageKey
  values: MessageValues
  at: number
}

function sameMessage(a: Pick<Notice, 'key' | 'values'>, b: Pick<Notice, 'key' | 'values'>): boolean {
  return a.key === b.key && JSON.stringify(a.values) === JSON.stringify(b.values)
}

/**
 * Short messages about the feed itself (a gap, dropped alerts, a gateway
 * restart). The same message repeated replaces the older one instead of piling up.
 */
export class Notices {
  readonly store = new Store<readonly Notice[]>([])
  #next = 1

  push(tone: Notice['tone'], key: MessageKey, values: MessageValues = {}): void {
    const kept = this.store.get().filter((n) => !sameMessage(n, { key, values }))
    this.store.set([...kept, { id: this.#next++, tone, key, values, at: Date.now() }].slice(-5))
  }

  dismiss(id: number): void {
    this.store.set(this.store.get().filter((n) => n.id !== id))
  }

  clear(): void {
    this.store.set([])
  }
}
