/**
 * bench:heap-diff — which constructors grew in a running gateway: two heap
 * snapshots `--wait-s` apart (the gateway must run with
 * `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR`; `bench:soak` starts it
 * so and prints both), or two snapshot files already written.
 *
 *   npm run bench:heap-diff -- --pid PID --dir DIR [--wait-s 120] [--top 25]
 *   npm run bench:heap-diff -- --before A.heapsnapshot --after B.heapsnapshot
 *
 * Prints what grew per constructor, then the objects allocated between the two
 * snapshots and still alive, with what holds them.
 *
 * Each snapshot stops the gateway's event loop while it is written (seconds
 * for a heap of 100 MiB); a soak's lag figures around one are not its own.
 */
import { z } from 'zod'
import { benchArgs } from './lib/args.js'
import {
  allocatedBetween,
  allocatedTable,
  growth,
  growthTable,
  summarise,
  takeSnapshot,
} from './lib/heap-snapshot.js'

const Args = z
  .object({
    pid: z.coerce.number().int().positive().optional(),
    dir: z.string().min(1).optional(),
    'wait-s': z.coerce.number().int().min(1).max(86_400).default(120),
    top: z.coerce.number().int().min(1).max(500).default(25),
    before: z.string().min(1).optional(),
    after: z.string().min(1).optional(),
  })
  .refine((a) => (a.before && a.after) || (a.pid && a.dir), {
    message: 'give --pid and --dir, or --before and --after',
    path: ['pid'],
  })
const args = benchArgs('heap-diff', Args)
const say = (s: string) => process.stdout.write(`${s}\n`)

let before = args.before
let after = args.after
if (!before || !after) {
  const pid = args.pid as number
  const dir = args.dir as string
  before = await takeSnapshot(pid, dir)
  say(`first snapshot: ${before}; the next in ${args['wait-s']} s`)
  await new Promise((r) => setTimeout(r, args['wait-s'] * 1000))
  after = await takeSnapshot(pid, dir)
  say(`second snapshot: ${after}`)
}
say(growthTable(growth(summarise(before), summarise(after), args.top)))
say('')
say(allocatedTable(allocatedBetween(before, after, args.top)))
