import type { Logger } from '../log.js'
import type { IndexMoveNotice } from './spool-worker.js'

/** Progress lines at most this often while a backlog moves. */
const EVERY_MS = 10_000

/**
 * The log of the event index's moves into monthly tables. In steady running
 * a chunk moves now and then and says nothing; an index that holds more than
 * a chunk to move (a large index of an earlier version, or a gateway that was
 * off for days) says how far it got every ten seconds and when it is done.
 */
export class IndexMoveLog {
  readonly #log: Logger
  #moving = false
  #moved = 0
  #lastLine = 0
  #lastError = 0

  constructor(log: Logger) {
    this.#log = log
  }

  report(n: IndexMoveNotice, now = Date.now()): void {
    if (n.error !== undefined) {
      if (now - this.#lastError >= EVERY_MS)
        this.#log.warn({ err: n.error }, 'event index: move failed; retrying')
      this.#lastError = now
      return
    }
    this.#moved += n.moved
    if (n.more && !this.#moving) {
      this.#moving = true
      this.#lastLine = now
      this.#log.info({ recentRows: n.recentRows }, 'event index: moving events into their monthly tables')
    } else if (n.more && now - this.#lastLine >= EVERY_MS) {
      this.#lastLine = now
      this.#log.info({ moved: this.#moved, recentRows: n.recentRows }, 'event index: still moving')
    } else if (!n.more && this.#moving) {
      this.#moving = false
      this.#log.info({ moved: this.#moved, recentRows: n.recentRows }, 'event index: moved')
      this.#moved = 0
    }
    if (!this.#moving) this.#moved = 0
  }
}
