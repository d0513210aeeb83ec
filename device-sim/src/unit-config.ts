import { ConfigDesired, type ConfigReported, DEFAULT_UNIT_CONFIG, type UnitConfig } from '@doorstep/proto'
import { unitFloat } from './prng.js'

/** Motion zones the simulated hardware can track; a configuration with more is refused. */
export const SIM_MAX_ZONES = 4

const TAG_CONFIG_REFUSE = 0xc0f1

/** Whether this unit is one of the share that refuses every configuration (seeded: stable per unit). */
export function refusesConfig(unitSeed: number, share: number): boolean {
  return unitFloat(unitSeed, TAG_CONFIG_REFUSE) < share
}

/** A report without its envelope; one of the union's two shapes (a plain Omit would merge them). */
export type ReportBody = ConfigReported extends infer R
  ? R extends unknown
    ? Omit<R, 'v' | 'ts'>
    : never
  : never

export type ConfigDecision =
  /** Not JSON or not a `ConfigDesired`, or a version not newer than the last one answered. */
  | { outcome: 'ignored'; invalid: boolean }
  | { outcome: 'applied'; report: ReportBody; heartbeatChanged: boolean }
  | { outcome: 'refused'; report: ReportBody }

/**
 * A unit's side of remote configuration (`cam/{id}/config`): what it runs, and what it answers. A
 * version is acted on only when it is newer than the last one answered, so a redelivery or a late older
 * copy changes nothing and is not answered twice.
 */
export class UnitRemoteConfig {
  readonly #refuseAll: boolean
  #running: UnitConfig = DEFAULT_UNIT_CONFIG
  #runningVersion = 0
  #answered = 0

  constructor(opts: { refuseAll: boolean }) {
    this.#refuseAll = opts.refuseAll
  }

  get runningVersion(): number {
    return this.#runningVersion
  }

  get running(): UnitConfig {
    return this.#running
  }

  /** The heartbeat interval a configuration set, ms; null while the unit runs the defaults (version 0). */
  heartbeatMs(): number | null {
    return this.#runningVersion === 0 ? null : this.#running.heartbeatIntervalS * 1000
  }

  receive(payload: Buffer): ConfigDecision {
    let raw: unknown
    try {
      raw = JSON.parse(payload.toString('utf8'))
    } catch {
      return { outcome: 'ignored', invalid: true }
    }
    const parsed = ConfigDesired.safeParse(raw)
    if (!parsed.success) return { outcome: 'ignored', invalid: true }
    const { version, config } = parsed.data
    if (version <= this.#answered) return { outcome: 'ignored', invalid: false }
    this.#answered = version
    const reason = this.#refusal(config)
    if (reason !== null) {
      return {
        outcome: 'refused',
        report: { version, applied: false, reason, ...this.#runs() },
      }
    }
    const heartbeatChanged = config.heartbeatIntervalS * 1000 !== this.heartbeatMs()
    this.#running = config
    this.#runningVersion = version
    return { outcome: 'applied', report: { version, applied: true, ...this.#runs() }, heartbeatChanged }
  }

  #refusal(config: UnitConfig): string | null {
    if (this.#refuseAll) return 'remote configuration is locked on this unit'
    const zones = config.motion.zones.length
    if (zones > SIM_MAX_ZONES)
      return `unsupported motion zone count: ${zones} (this unit supports ${SIM_MAX_ZONES})`
    return null
  }

  #runs(): { runningVersion: number; running: UnitConfig } {
    return { runningVersion: this.#runningVersion, running: this.#running }
  }
}
