import { parseArgs } from 'node:util'
import { formatReport, verifyExport } from '../src/cases/verify.js'
import { runKeysCli } from '../src/evidence/index.js'
import { runTokensCli } from '../src/people/tokens-cli.js'

const USAGE = `doorstep <command>

  verify <export.zip> [--json]   check an evidence export: every file's sha256 against manifest.json
                                 and the custody log's hash chain; exit 0 PASS, 1 FAIL, 2 usage
  tokens <list|issue|revoke>     people's API tokens (see \`doorstep tokens --help\`)
  keys [rotate]                  the evidence signing keys: fingerprints, public key (see \`doorstep keys --help\`)
`

async function verify(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  })
  const file = positionals[0]
  if (values.help || !file || positionals.length > 1) {
    process.stderr.write(USAGE)
    return values.help ? 0 : 2
  }
  const report = await verifyExport(file)
  if (values.json) process.stdout.write(`${JSON.stringify({ ...report, manifest: undefined }, null, 2)}\n`)
  else process.stdout.write(formatReport(report))
  return report.ok ? 0 : 1
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'verify':
      return verify(rest)
    case 'keys':
      return runKeysCli(rest, process.env, {
        out: (s) => process.stdout.write(s),
        err: (s) => process.stderr.write(s),
      })
    case 'tokens':
      return runTokensCli(rest, process.env, {
        out: (s) => process.stdout.write(s),
        err: (s) => process.stderr.write(s),
      })
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    default:
      process.stderr.write(`doorstep: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  // One line, never a stack trace; 2 only for a command line node's parseArgs refused.
  const code = (err as { code?: unknown }).code
  process.stderr.write(`doorstep: ${(err as Error).message.split('\n')[0]}\n`)
  process.exitCode = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS') ? 2 : 1
}
