import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Logger } from '../../gateway/src/log.js'

/** A logger that writes JSON lines into `lines`, at every level, for tests that read the log. */
export function capturingLogger(): { log: Logger; text: () => string } {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString())
      cb()
    },
  })
  return { log: pino({ level: 'trace' }, sink), text: () => lines.join('') }
}
