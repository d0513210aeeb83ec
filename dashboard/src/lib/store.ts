import { useEffect, useState } from 'preact/hooks'

type Listener<T> = (value: T) => void

/**
 * A value that views can watch. Long-lived state (session, connection,
 * alerts, fleet health) lives in stores owned by services with start()/stop();
 * views only read them, so a view that unmounts never stops a feed.
 */
export class Store<T> {
  #value: T
  readonly #listeners = new Set<Listener<T>>()

  constructor(initial: T) {
    this.#value = initial
  }

  get(): T {
    return this.#value
  }

  set(value: T): void {
    if (Object.is(value, this.#value)) return
    this.#value = value
    for (const l of this.#listeners) l(value)
  }

  update(fn: (v: T) => T): void {
    this.set(fn(this.#value))
  }

  subscribe(fn: Listener<T>): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }
}

/** Re-renders the calling component whenever the store changes. */
export function useStore<T>(store: Store<T>): T {
  const value = store.get()
  const [, force] = useState(0)
  useEffect(() => {
    const rerender = () => force((n) => n + 1)
    // The value may have changed between this render and the subscription.
    if (!Object.is(store.get(), value)) rerender()
    return store.subscribe(rerender)
    // Deliberate deps: `value` is only compared once, at subscription
  }, [store])
  return value
}
