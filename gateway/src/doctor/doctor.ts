import path from 'node:path'
import { type Config, ConfigError, loadConfig } from '../config.js'
import { type Finding, fail, ok } from './check.js'
import { checkDataDir, checkDisk, checkKeyFile, checkTls } from './data-checks.js'
import { checkClock, checkFfmpeg, checkInflux, checkNode, checkOpenFiles } from './machine-checks.js'
import type { Probes } from './probes.js'
import { checkPages, checkSchema } from './schema-check.js'
import { checkSharedEvents } from './shared-events-check.js'

/** The programme's fleet: the open-files check plans for it unless told another count. */
export const DEFAULT_UNITS = 2896

/**
 * Every check, in the order an operator fixes things: the configuration first (nothing else can be
 * judged without it), then the machine, then the data.
 */
export async function runChecks(
  env: Record<string, string | undefined>,
  probes: Probes,
  opts: { units: number },
): Promise<Finding[]> {
  let cfg: Config
  try {
    cfg = loadConfig(env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return err.problems.map((p) => fail('config', p, 'fix the variable in the environment or the unit file'))
  }
  const findings: Finding[] = [ok('config', 'every DOORSTEP_ variable is valid')]
  findings.push(await checkNode())
  findings.push(...(await checkFfmpeg(probes)))
  findings.push(await checkInflux(probes, cfg.influx))
  findings.push(await checkClock(probes))
  findings.push(await checkOpenFiles(probes, opts.units))
  findings.push(checkDataDir(cfg.dataDir))
  findings.push(await checkDisk(probes, cfg.dataDir, cfg.clips.diskHighWatermarkPct))
  findings.push(await checkSchema(probes, cfg.dataDir, cfg.cluster.databaseUrl !== null))
  findings.push(await checkPages(probes, cfg.dataDir))
  const shared = checkSharedEvents(cfg.dataDir, cfg.cluster.databaseUrl !== null)
  if (shared) findings.push(shared)
  findings.push(checkKeyFile(cfg.evidence.keyFile ?? path.join(cfg.dataDir, 'evidence', 'key.pem')))
  findings.push(...checkTls(cfg, probes.now()))
  return findings
}
