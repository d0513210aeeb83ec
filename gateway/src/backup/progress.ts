/** Progress of a backup or restore: one line per phase, and at most one running line per second. */
export interface Progress {
  line(s: string): void
  tick(s: string): void
}

const TICK_EVERY_MS = 1000

export function progressTo(write: (s: string) => void, prefix: string): Progress {
  let last = Date.now()
  return {
    line: (s) => {
      write(`${prefix}: ${s}\n`)
      last = Date.now()
    },
    tick: (s) => {
      if (Date.now() - last < TICK_EVERY_MS) return
      last = Date.now()
      write(`${prefix}: ${s}\n`)
    },
  }
}
