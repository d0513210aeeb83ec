import type { ServerFrame } from '@doorstep/proto'
import { Store } from '../lib/store.js'

export type PullFrame = Extract<ServerFrame, { type: 'pull' }>
export type CaseFrame = Extract<ServerFrame, { type: 'case' }>

/** Pulls followed live at most: a city-wide case asks every unit of a district or two. */
const MAX_PULLS = 5000

/**
 * How cases and pulls stand, as the alert socket tells it: the case page shows a pull's state and bytes
 * from here as they arrive, over what it fetched. Frames are hints, never replayed: after a reconnect
 * the page fetches the case again (`reconnects` changes) and what is here is only newer news.
 */
export class CaseProgress {
  /** The latest frame of each pull, by pull id (bounded; the oldest are forgotten first). */
  readonly pulls = new Store<ReadonlyMap<string, PullFrame>>(new Map())
  /** Bumped when a case opens or closes: lists of cases fetch again. */
  readonly cases = new Store<number>(0)
  /** Bumped when the socket (re)connects: pages fetch their case again, frames may have been missed. */
  readonly reconnects = new Store<number>(0)

  apply(f: PullFrame | CaseFrame): void {
    if (f.type === 'case') {
      this.cases.update((n) => n + 1)
      return
    }
    this.pulls.update((m) => {
      const next = new Map(m)
      next.delete(f.pullId)
      next.set(f.pullId, f)
      if (next.size > MAX_PULLS) {
        const oldest = next.keys().next().value
        if (oldest !== undefined) next.delete(oldest)
      }
      return next
    })
  }

  reconnected(): void {
    this.reconnects.update((n) => n + 1)
  }

  clear(): void {
    this.pulls.set(new Map())
  }
}
