import { execFile } from 'node:child_process'
import fsp from 'node:fs/promises'

/**
 * What the checks read from the machine, behind one seam so tests can put a machine together (a PATH
 * without ffmpeg, a tiny open-files limit, a full disk) without changing this one.
 */
export interface Probes {
  /** Runs a program; null when it cannot be started (not installed) or it fails. */
  run(file: string, args: string[]): Promise<{ stdout: string; stderr: string } | null>
  /** `/proc/self/limits` or null where there is none. */
  limits(): Promise<string | null>
  statfs(dir: string): Promise<{ sizeBytes: number; freeBytes: number }>
  now(): number
}

export const machineProbes: Probes = {
  run: (file, args) =>
    new Promise((resolve) => {
      execFile(file, args, { timeout: 10_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) =>
        resolve(err ? null : { stdout: String(stdout), stderr: String(stderr) }),
      )
    }),
  limits: () => fsp.readFile('/proc/self/limits', 'utf8').catch(() => null),
  statfs: async (dir) => {
    const s = await fsp.statfs(dir)
    return { sizeBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize }
  },
  now: Date.now,
}
