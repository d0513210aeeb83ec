import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

/** A stack trace's frame line: the CLI's errors are one line, never one of these. */
export const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m

/** `doorstep <args>` as a child process, the way an operator runs it: exit code, stdout, stderr. */
export async function doorstep(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: ROOT })
    return { code: 0, out: stdout, err: stderr }
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string }
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' }
  }
}
