import path from 'node:path'
import type { AuditLog } from '../audit/index.js'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
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
  db: Db
  bus: EventBus
  log: Logger
  registry: Pick<DeviceRegistry, 'list' | 'get'>
  broker: CommandChannel
  audit: Pick<AuditLog, 'record'>
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
    const table = new FirmwareStore(d.db)
    table.load()
    // A key of its own: a stolen evidence key must not also install code on every unit, nor the reverse.
    const keys = new EvidenceKeyring({
      dataDir: d.config.dataDir,
      dir: firmwareKeyDir(d.config.dataDir),
      label: 'firmware',
      warn: (msg) => d.log.warn(msg),
    })
    keys.load()
    const images = new FirmwareImages({
      root: path.join(d.config.dataDir, 'firmware'),
      table,
      signer: keys,
      maxBytes: d.config.firmware.maxBytes,
      now: this.#now,
    })
    await images.init()
    const rollout = new Rollout({
      table,
      registry: d.registry,
      broker: d.broker,
      audit: d.audit,
      bus: d.bus,
      log: d.log.child({ feature: 'firmware' }),
      defaultConcurrency: d.config.firmware.districtConcurrency,
      now: this.#now,
    })
    // Live progress for admins and ops: a hint on the bus, never the only record.
    table.onUnit = (u) => {
      const c = table.campaign(u.campaign_id)
      const image = c ? table.image(c.image_id) : undefined
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
    }
    this.#run = { table, keys, images, rollout }
    rollout.start()
    rollout.pump()
  }

  stop(): void {
    const run = this.#run
    if (!run) return
    run.table.onUnit = null
    run.rollout.stop()
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
