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

/** The parent pid of `pid`, or null once it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return null
  }
}

/**
 * Live processes started by this process or by its children (the gateway runs ffmpeg and ffprobe
 * through a runner process of its own), for which `match(comm, argv)` holds. Zombies are left out.
 */
export function descendants(match: (comm: string, argv: string[]) => boolean): number[] {
  const pids: number[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    let up = parentOf(pid)
    for (let hops = 0; up !== null && up > 1 && up !== process.pid && hops < 8; hops++) up = parentOf(up)
    if (up !== process.pid || !running(pid)) continue
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (match(comm, argv)) pids.push(pid)
    } catch {
      // gone meanwhile
    }
  }
  return pids
}
