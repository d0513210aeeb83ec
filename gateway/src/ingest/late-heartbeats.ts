import { missedByCqs } from '../influx/index.js'

/** The time range of heartbeats the downsampling CQs missed, still to be recomputed. */
export interface LateRange {
  from: number
  to: number
  /** Heartbeats in the range that came late. */
  count: number
}

const PREFIX = 'heartbeat,'

/**
 * Collects the times of heartbeat lines written to InfluxDB too late for the
 * downsampling CQs (see `missedByCqs`): in practice the spool's replay after
 * InfluxDB was away, or after a restart with a spool left behind. Points are
 * stamped when they arrived, so a late one is rare and only a replay looks at
 * its lines. One range, widened line by line: an outage is one stretch of time.
 */
export class LateHeartbeats {
  #from = Number.POSITIVE_INFINITY
  #to = Number.NEGATIVE_INFINITY
  #count = 0

  /** Notes one line written at `writtenAt`, if it is a heartbeat that came late. */
  note(line: string, writtenAt: number): void {
    if (!line.startsWith(PREFIX)) return
    // The timestamp closes the line: epoch ms followed by six digits (points.ts).
    const ms = Number(line.slice(line.lastIndexOf(' ') + 1, -6))
    if (!Number.isSafeInteger(ms) || !missedByCqs(ms, writtenAt)) return
    if (ms < this.#from) this.#from = ms
    if (ms > this.#to) this.#to = ms
    this.#count++
  }

  /** The range noted so far, which is forgotten; null when there is none. */
  take(): LateRange | null {
    if (this.#count === 0) return null
    const r = { from: this.#from, to: this.#to, count: this.#count }
    this.#from = Number.POSITIVE_INFINITY
    this.#to = Number.NEGATIVE_INFINITY
    this.#count = 0
    return r
  }

  /** Puts back a range taken but not recomputed (its queries failed), merged with what came since. */
  restore(r: LateRange): void {
    if (r.from < this.#from) this.#from = r.from
    if (r.to > this.#to) this.#to = r.to
    this.#count += r.count
  }
}
