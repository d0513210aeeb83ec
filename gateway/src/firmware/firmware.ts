import path from 'node:path'
import type { AuditLog } from '../audit/index.js'
import type { Config } from '../config.js'
import type { SharedDb } from '../db/index.js'
import type { EventBus } from '../event-bus.js'
import { EvidenceKeyring } from '../evidence/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import type { CommandChannel } from '../mqtt/index.js'
import type { DeviceRegistry } from '../registry/index.js'
import { Rollout } from './campaigns.js'
import { FirmwareStore } from './firmware-store.js'
import { FirmwareImages } from './images.js'

export interface FirmwareDeps {
  config: Config
  /** Where the tables live: the gateway's SQLite file, or the PostgreSQL the cluster shares. */
  shared: SharedDb
  bus: EventBus
  log: Logger
  registry: Pick<DeviceRegistry, 'list' | 'get'>
  broker: CommandChannel
  audit: Pick<AuditLog, 'record'>
  /** Whether a unit is connected to another gateway, as the cluster last heard (see `Rollout`). */
  connectedElsewhere?: (deviceId: string) => boolean
  now?: () => number
}

/** Where the firmware key lives: beside the evidence key's folder, in `keys/` (which backups keep). */
export function firmwareKeyDir(dataDir: string): string {
  return path.join(dataDir, 'keys', 'firmware')
}

interface Running {
  table: FirmwareStore
  keys: EvidenceKeyring
  images: FirmwareImages
  rollout: Rollout
}

/**
 * Firmware updates: signed images, campaigns that roll them out in waves with a canary, a pause rule
 * and a district budget, and each unit's progress (campaigns.ts). Routes: routes.ts.
 */
export class Firmware implements Feature {
  readonly name = 'firmware'
  readonly #d: FirmwareDeps
  readonly #now: () => number
  #run: Running | null = null

  constructor(deps: FirmwareDeps) {
    this.#d = deps
    this.#now = deps.now ?? Date.now
  }

  async start(): Promise<void> {
    const d = this.#d
    const log = d.log.child({ feature: 'firmware' })
    const table = new FirmwareStore(d.shared, d.config.cluster.nodeId, log)
    await table.load()
    // A key of its own: a stolen evidence key must not also install code on every unit, nor the reverse.
    const keys = new EvidenceKeyring({
      dataDir: d.config.dataDir,
      dir: firmwareKeyDir(d.config.dataDir),
      keyFile: d.config.firmware.keyFile,
      label: 'firmware',
      warn: (msg) => d.log.warn(msg),
    })
    keys.load()
    if (table.shared && !d.config.firmware.keyFile) {
      // Each gateway would sign with a key of its own, and units trust one.
      log.warn(
        { fingerprint: keys.fingerprint },
        'gateways share firmware campaigns but this one made its own firmware key: give every gateway the same DOORSTEP_FIRMWARE_KEY_FILE',
      )
    }
    const images = new FirmwareImages({
      root: path.join(d.config.sharedDir, 'firmware'),
      table,
      signer: keys,
      maxBytes: d.config.firmware.maxBytes,
      now: this.#now,
    })
    await images.init(table.shared)
    const rollout = new Rollout({
      table,
      registry: d.registry,
      broker: d.broker,
      audit: d.audit,
      bus: d.bus,
      log,
      defaultConcurrency: d.config.firmware.districtConcurrency,
      elsewhere: d.connectedElsewhere ?? (() => false),
      now: this.#now,
    })
    // Live progress for admins and ops: a hint on the bus, never the only record. In arrival order:
    // each needs two reads, and a later change must not overtake an earlier one.
    let told: Promise<void> = Promise.resolve()
    table.onUnit = (u, elsewhere) => {
      told = told
        .then(async () => {
          const c = await table.campaign(u.campaign_id)
          const image = c ? await table.image(c.image_id) : undefined
          if (!c || !image) return
          d.bus.emit('campaign.unit', {
            campaignId: c.id,
            campaignState: c.state,
            deviceId: u.device_id,
            district: u.district,
            state: u.state,
            bytes: u.bytes,
            total: image.size,
            reason: u.reason,
          })
        })
        .catch((err: Error) => log.warn({ err: err.message }, 'campaign progress not told'))
      // Another gateway's change may let this one offer (a unit waiting again, a freed place, an end).
      if (elsewhere && u.state !== 'offered' && u.state !== 'downloading') rollout.pump()
    }
    table.onCampaign = (c) => rollout.heard(c)
    // Notices missed while the shared database was away: look at everything again.
    table.onResync = () => rollout.pump()
    this.#run = { table, keys, images, rollout }
    await rollout.start()
    rollout.pump()
  }

  /** Resolves when the rollout's work under way is done (tests, and a stop). */
  async settled(): Promise<void> {
    await this.#run?.rollout.settled()
  }

  async stop(): Promise<void> {
    const run = this.#run
    if (!run) return
    run.table.onUnit = null
    run.table.onCampaign = null
    run.table.onResync = null
    run.rollout.stop()
    // The database closes after this feature: what is under way finishes on it first.
    await run.rollout.settled()
    this.#run = null
  }

  get table(): FirmwareStore {
    return this.#running().table
  }
  get keys(): EvidenceKeyring {
    return this.#running().keys
  }
  get images(): FirmwareImages {
    return this.#running().images
  }
  get rollout(): Rollout {
    return this.#running().rollout
  }

  #running(): Running {
    if (!this.#run) throw new Error('firmware is not started')
    return this.#run
  }
}
