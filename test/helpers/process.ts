import fs from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** Alive and not a zombie: an orphan's exit is reaped by whoever adopted it, maybe later. */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Polls until `pid` has ended; false if it still runs after `ms`. */
export async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (running(pid)) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}
