import { parseArgs } from 'node:util'
import { runBackupCli, runRestoreCli } from '../src/backup/index.js'
import { resolveTrust, TrustArgumentError } from '../src/cases/trust.js'
import { verifyExport } from '../src/cases/verify.js'
import { exitCodeOf, formatReport } from '../src/cases/verify-report.js'
import { runClipsCli } from '../src/clips/index.js'
import { runDoctorCli } from '../src/doctor/index.js'
import { runKeysCli } from '../src/evidence/index.js'
import { runAuditCli } from '../src/evidence/logs-cli.js'
import { runTokensCli } from '../src/people/tokens-cli.js'
import { runRegistryCli } from '../src/registry/index.js'

const USAGE = `doorstep <command>

  verify <export.zip> [--key K]... [--json]
                                 check an evidence export: its signature, every file's sha256 against
                                 manifest.json and the custody log's hash chain. K is a key you trust:
                                 its fingerprint, a PEM file, or the gateway's key URL
                                 (…/api/v1/evidence/keys). Exit 0 PASS (signed by a trusted key),
                                 1 FAIL, 3 consistent but NOT AUTHENTICATED (no trusted key), 2 usage
  tokens <list|issue|revoke>     people's API tokens (see \`doorstep tokens --help\`)
  backup --to DIR                back up the data dir, also while the gateway runs; a second backup
                                 into DIR copies only what changed (see \`doorstep backup --help\`)
  restore --from DIR --data-dir NEW
                                 check a backup against its manifest and restore it into an empty
                                 data dir (see \`doorstep restore --help\`)
  audit verify [--data-dir DIR]  check the audit and custody logs offline: hash chains and signed
                                 checkpoints; exit 0 PASS, 1 FAIL, 2 usage
  keys [rotate]                  the evidence signing keys: fingerprints, public key (see \`doorstep keys --help\`)
  registry copy [--to URL]       copy the data dir's device registry, secrets and all, into the
                                 PostgreSQL the gateways share (see \`doorstep registry --help\`)
  clips copy [--to URL]          copy the clips a gateway stored alone into the PostgreSQL and the
                                 directory the gateways share (see \`doorstep clips --help\`)
  doctor [--data-dir DIR]        check this machine for running the gateway and say what to fix
                                 (see \`doorstep doctor --help\`)
`

async function verify(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      key: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const file = positionals[0]
  if (values.help || !file || positionals.length > 1) {
    process.stderr.write(USAGE)
    return values.help ? 0 : 2
  }
  let trust: Awaited<ReturnType<typeof resolveTrust>>
  try {
    trust = await resolveTrust(values.key ?? [])
  } catch (err) {
    if (!(err instanceof TrustArgumentError)) throw err
    process.stderr.write(`doorstep verify: ${err.message}\n`)
    return 2
  }
  const report = await verifyExport(file, { trusted: trust.keys, notes: trust.notes })
  if (values.json) process.stdout.write(`${JSON.stringify({ ...report, manifest: undefined }, null, 2)}\n`)
  else process.stdout.write(formatReport(report))
  return exitCodeOf(report)
}

const io = {
  out: (s: string) => void process.stdout.write(s),
  err: (s: string) => void process.stderr.write(s),
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'verify':
      return verify(rest)
    case 'audit':
      return runAuditCli(rest, process.env, {
        out: (s) => process.stdout.write(s),
        err: (s) => process.stderr.write(s),
      })
    case 'keys':
      return runKeysCli(rest, process.env, {
        out: (s) => process.stdout.write(s),
        err: (s) => process.stderr.write(s),
      })
    case 'tokens':
      return runTokensCli(rest, process.env, io)
    case 'backup':
      return runBackupCli(rest, process.env, io)
    case 'restore':
      return runRestoreCli(rest, process.env, io)
    case 'doctor':
      return runDoctorCli(rest, process.env, io)
    case 'registry':
      return runRegistryCli(rest, process.env, io)
    case 'clips':
      return runClipsCli(rest, process.env, io)
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
