import path from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'

/** Where a command-line tool writes: stdout and stderr in `doorstep`, buffers in tests. */
export interface CliIo {
  out: (s: string) => void
  err: (s: string) => void
}

type Options = NonNullable<ParseArgsConfig['options']>
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>
>

/**
 * The arguments of one `doorstep <command>`, or the exit code when there is nothing more to do: 2 with
 * the usage after an unknown or malformed flag, 0 after printing the usage for `--help`/`-h` (which
 * every command takes). One place, so every command answers a typo the same way.
 */
export function parseCommandArgs<const O extends Options>(
  command: string,
  usage: string,
  argv: string[],
  options: O,
  io: CliIo,
): { ok: true; values: Parsed<O>['values']; positionals: string[] } | { ok: false; exit: number } {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    io.err(`doorstep ${command}: ${(err as Error).message}\n\n${usage}`)
    return { ok: false, exit: 2 }
  }
  if (parsed.values.help === true) {
    io.out(usage)
    return { ok: false, exit: 0 }
  }
  return { ok: true, values: parsed.values as Parsed<O>['values'], positionals: parsed.positionals }
}

/** The data dir a command works on: `--data-dir`, else the gateway's `DOORSTEP_DATA_DIR`, else `./data`. */
export function dataDirOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(flag ?? env.DOORSTEP_DATA_DIR ?? './data')
}
