import { parseArgs } from 'node:util'
import type { z } from 'zod'

/**
 * A bench's `--name value` options, validated by its zod schema: every key
 * of the schema is one option. An unknown option or a bad value is named,
 * with the bench, and it exits 2 before anything starts.
 */
export function benchArgs<S extends z.ZodObject>(bench: string, schema: S): z.infer<S> {
  const options = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, { type: 'string' as const }]))
  let values: Record<string, unknown>
  try {
    values = parseArgs({ options }).values
  } catch (err) {
    // An option the bench does not have, or one without its value.
    process.stderr.write(
      `bench:${bench}: ${(err as Error).message}; options: --${Object.keys(options).join(', --')}\n`,
    )
    process.exit(2)
  }
  const parsed = schema.safeParse(values)
  if (!parsed.success) {
    for (const i of parsed.error.issues)
      process.stderr.write(`bench:${bench}: --${String(i.path[0])}: ${i.message}\n`)
    process.exit(2)
  }
  return parsed.data
}
