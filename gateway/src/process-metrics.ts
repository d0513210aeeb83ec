import fs from 'node:fs'
import {
  constants,
  type IntervalHistogram,
  monitorEventLoopDelay,
  PerformanceObserver,
} from 'node:perf_hooks'
import v8 from 'node:v8'
import type { Feature } from './feature.js'

/** What the process's own gauges read at a scrape. */
export interface ProcessReading {
  rssBytes: number
  heapUsedBytes: number
  heapTotalBytes: number
  /** C++ objects bound to JS objects, Buffers' and ArrayBuffers' memory included. */
  externalBytes: number
  /** V8's used heap read right after the last mark-compact: the live heap, without garbage. Null before the first. */
  heapAfterGcBytes: number | null
  majorGcs: number
  /** Event-loop delay since the previous reading (the window starts over at each), seconds: how late the sampling timer ran. */
  lagP99S: number
  lagMaxS: number
  /** Open file descriptors; null where /proc/self/fd cannot be read. */
  openFds: number | null
}

/** The histogram's sampling timer, ms. */
const SAMPLE_MS = 10

/**
 * How late a sampling timer ran, seconds, from the interval perf_hooks
 * recorded (ns). The histogram holds the whole time between two runs of its
 * timer, so an idle loop reads about 10 ms; the delay is what is past the
 * 10 ms the timer was set for (as @fastify/under-pressure reads it).
 */
export function delayPastInterval(intervalNs: number): number {
  return Math.max(0, intervalNs / 1e9 - SAMPLE_MS / 1000)
}

/**
 * Watches the gateway's own process: the event loop's delay (perf_hooks'
 * histogram, sampled every 10 ms) and the heap left after each full GC. A
 * soak run reads these to tell a leak (the live heap grows) from V8 sizing
 * its heap (RSS grows while the live heap stays flat).
 */
export class ProcessWatch implements Feature {
  readonly name = 'process'
  #delay: IntervalHistogram | null = null
  #gc: PerformanceObserver | null = null
  #heapAfterGc: number | null = null
  #majorGcs = 0

  start(): void {
    const delay = monitorEventLoopDelay({ resolution: SAMPLE_MS })
    delay.enable()
    this.#delay = delay
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        // A gc entry's `detail` carries its kind (Node 16+); the types declare it on subclasses only.
        const kind = (e as unknown as { detail?: { kind?: number } | null }).detail?.kind
        if (kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue
        this.#majorGcs++
        // The observer is called shortly after the collection: what was allocated since is counted
        // too, a few hundred KiB at most against a heap of tens of MiB.
        this.#heapAfterGc = v8.getHeapStatistics().used_heap_size
      }
    })
    gc.observe({ entryTypes: ['gc'] })
    this.#gc = gc
  }

  stop(): void {
    this.#delay?.disable()
    this.#delay = null
    this.#gc?.disconnect()
    this.#gc = null
  }

  /** The process as it is now; the event-loop window starts over. */
  read(): ProcessReading {
    const mem = process.memoryUsage()
    const delay = this.#delay
    // The histogram is in nanoseconds; with no sample yet its percentiles read 0.
    const lagP99S = delay && delay.count > 0 ? delayPastInterval(delay.percentile(99)) : 0
    const lagMaxS = delay && delay.count > 0 ? delayPastInterval(delay.max) : 0
    delay?.reset()
    return {
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapTotalBytes: mem.heapTotal,
      externalBytes: mem.external,
      heapAfterGcBytes: this.#heapAfterGc,
      majorGcs: this.#majorGcs,
      lagP99S,
      lagMaxS,
      openFds: openFds(),
    }
  }
}

function openFds(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length
  } catch {
    return null
  }
}
