import { Command, type CommandAck, topicFor } from '@doorstep/proto'
import type { AuditLog } from '../audit/index.js'
import type { EventBus } from '../event-bus.js'
import { InLine } from '../in-line.js'
import type { Logger } from '../log.js'
import { type CommandChannel, CommandListeners } from '../mqtt/index.js'
import { SerialPass } from '../serial-pass.js'
import type { CaseStore } from './case-store.js'
import type { CustodyLog } from './custody.js'
import { FINAL_STATES, type PullRow } from './pull-table.js'

export interface DispatchDeps {
  table: CaseStore
  custody: CustodyLog
  audit: AuditLog
  bus: EventBus
  broker: CommandChannel
  log: Logger
  /** Units of one district with a pull in flight at once. */
  districtConcurrency: number
  /**
   * Whether the unit is connected to another gateway, as the cluster last heard (shared presence):
   * that gateway sends its pulls. Always false for a gateway on its own.
   */
  elsewhere: (deviceId: string) => boolean
  now: () => number
}

export const GATEWAY_ACTOR = 'gateway'

function uploadPathOf(pullId: string): string {
  return `/api/v1/pulls/${pullId}/upload`
}

/**
 * Sends `pull` commands and follows them to the end.
 *
 * - Delivery: a pull is sent only to a unit that is connected and listening
 *   on `cam/{id}/cmd` (its SUBSCRIBE seen, or a restored persistent session).
 *   A unit that is away makes the pull `offline`; when it comes back the pull
 *   is sent again, from the database, so a gateway restart or an in-memory broker
 *   losing its offline queue loses nothing. Units must treat a repeated
 *   `cmdId` as the same command (and resume its upload).
 * - Budget: at most `districtConcurrency` pulls of one district are in
 *   flight (sent and not finished), across every gateway sharing the
 *   tables; the rest wait, oldest first.
 * - Acks from the unit (`device.cmdAck`) move the pull along; `done` comes
 *   from the gateway storing the recording, not from the unit's word. Only
 *   changes go on the custody log (a state change, the unit's first `done`),
 *   so repeated acks add nothing to it.
 */
export class PullDispatch {
  readonly #d: DispatchDeps
  readonly #listeners: CommandListeners
  readonly #pump: SerialPass
  #off: Array<() => void> = []
  #acks: Promise<void> = Promise.resolve()
  /** What units coming and going ask of the pulls table, one at a time, in arrival order (`in-line.ts`). */
  readonly #units: InLine

  constructor(deps: DispatchDeps) {
    this.#d = deps
    this.#pump = new SerialPass(
      () => this.#pass(),
      (err) => deps.log.error({ err }, 'pull dispatch pass failed; the next change tries again'),
    )
    this.#units = new InLine((err, deviceId) =>
      deps.log.error({ err, device: deviceId }, 'pull state not updated'),
    )
    this.#listeners = new CommandListeners(deps.broker, deps.bus, {
      ready: (deviceId) => this.#units.add(() => this.#wake(deviceId), deviceId),
      gone: (deviceId) => this.#units.add(() => this.#away(deviceId), deviceId),
    })
  }

  async start(): Promise<void> {
    const { bus, table } = this.#d
    // No unit is connected yet: what was in flight when the gateway stopped waits for its unit.
    for (const p of await table.pulls.inFlight()) {
      await this.#transition(p, { state: 'offline', sent_at: null }, 'pull.offline', {
        after: 'gateway restart',
      })
    }
    this.#listeners.start()
    this.#off.push(
      // One ack at a time, in arrival order: a repeated `done` must see the entry the first one made.
      bus.on('device.cmdAck', ({ device, ack, at }) => {
        this.#acks = this.#acks
          .then(() => this.#onAck(device.id, ack, at))
          .catch((err: Error) =>
            this.#d.log.error(
              { err, device: device.id, pullId: ack.cmdId },
              'pull acknowledgement not recorded',
            ),
          )
      }),
    )
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#listeners.stop()
    this.#pump.stop()
    this.#units.stop()
  }

  /**
   * Sends what may be sent now: each unsent pending pull whose unit listens and whose district has
   * room. One pass at a time: a call while one runs asks for another pass after it, so a change that
   * came in meanwhile is seen. Each send claims its row first (`PullTable.claim`), so a pull is sent
   * once even when another gateway's pass looks at it too.
   */
  pump(): void {
    this.#pump.run()
  }

  /** Resolves when the acks received and the pass under way (and those it asked for) are over. */
  async settled(): Promise<void> {
    await this.#acks
    await this.#pump.settled()
  }

  async #pass(): Promise<void> {
    const { table, broker, custody } = this.#d
    // A unit that came back here while another gateway marked its pull offline (it had not heard yet).
    for (const p of await table.pulls.waiting()) {
      if (this.#listeners.has(p.device_id))
        await table.pulls.update(p.id, { state: 'pending', sent_at: null })
    }
    for (const p of await table.pulls.unsent()) {
      if (!broker.isConnected(p.device_id)) {
        // Connected to another gateway: that one sends it.
        if (this.#d.elsewhere(p.device_id)) continue
        await table.transaction(async (t) => {
          if (!(await t.pulls.markOffline(p.id))) return
          await custody.append(
            p.case_id,
            GATEWAY_ACTOR,
            'pull.offline',
            { pullId: p.id, deviceId: p.device_id },
            t.db,
          )
        })
        continue
      }
      if (!this.#listeners.has(p.device_id)) continue
      // A first look, without the lock; the claim checks again under it.
      if ((await table.pulls.activeInDistrict(p.district)) >= this.#d.districtConcurrency) continue
      await this.#send(p)
    }
  }

  async #send(p: PullRow): Promise<void> {
    const { table, broker, log, now } = this.#d
    const at = now()
    const cmd = Command.parse({
      v: 1,
      ts: at,
      cmdId: p.id,
      action: 'pull',
      from: p.window_from,
      to: p.window_to,
      uploadPath: uploadPathOf(p.id),
      ...(p.legal_order ? { legalOrder: p.legal_order } : {}),
    })
    // The claim and its custody entry commit together: a pull marked sent is on the record as sent.
    // The claim counts the district's pulls in flight under its district's lock, so gateways sending
    // at once keep to one budget between them.
    const claimed = await table.transaction(async (t) => {
      if (!(await t.pulls.claimInBudget(p, at, this.#d.districtConcurrency))) return false
      await this.#d.custody.append(
        p.case_id,
        GATEWAY_ACTOR,
        'pull.sent',
        { pullId: p.id, deviceId: p.device_id, attempt: p.sends + 1 },
        t.db,
      )
      return true
    })
    if (!claimed) return
    broker
      .publish(topicFor('cmd', p.device_id), JSON.stringify(cmd), { qos: 1 })
      .catch(async (err: Error) => {
        log.warn(
          { pullId: p.id, device: p.device_id, err: err.message },
          'pull command not published; will retry',
        )
        const cur = await table.pulls.get(p.id).catch(() => undefined)
        if (cur?.state === 'pending') await table.pulls.update(p.id, { sent_at: null }).catch(() => {})
      })
  }

  /** The unit is back: its waiting pulls go back in line. */
  async #wake(deviceId: string): Promise<void> {
    for (const p of await this.#d.table.pulls.ofDevice(deviceId, ['offline'])) {
      await this.#d.table.pulls.update(p.id, { state: 'pending', sent_at: null })
    }
    this.pump()
  }

  /** The unit left: what it had in flight waits for it (and frees the district's budget). */
  async #away(deviceId: string): Promise<void> {
    for (const p of await this.#d.table.pulls.ofDevice(deviceId, ['pending', 'uploading'])) {
      if (p.state === 'pending' && p.sent_at === null) continue
      await this.#transition(p, { state: 'offline', sent_at: null }, 'pull.offline', {
        deviceId,
        bytes: p.bytes,
      })
    }
    this.pump()
  }

  async #onAck(deviceId: string, ack: CommandAck, at: number): Promise<void> {
    const { table, log } = this.#d
    const p = await table.pulls.get(ack.cmdId)
    if (!p) return
    if (p.device_id !== deviceId) {
      log.warn({ device: deviceId, pullId: p.id }, 'ack for a pull sent to another unit; ignored')
      return
    }
    // A pull never sent (awaiting consent, refused by policy) cannot be answered.
    if (FINAL_STATES.has(p.state) || p.sends === 0) return
    const bytes = Math.max(p.bytes, ack.bytes ?? 0)
    switch (ack.status) {
      case 'accepted':
        await this.#transition(p, { state: 'uploading', accepted_at: at, bytes }, 'pull.accepted', {})
        return
      case 'uploading':
        // Progress is not custody: only the first report of it goes on the record.
        if (p.state === 'uploading') await table.pulls.update(p.id, { bytes })
        else
          await this.#transition(
            p,
            { state: 'uploading', bytes, accepted_at: p.accepted_at ?? at },
            'pull.accepted',
            {},
          )
        return
      case 'done':
        // `done` is the gateway's to say, when the recording is stored; the unit's word goes on record,
        // once: a unit repeating it must not grow the case's append-only log without bound.
        if (await this.#d.custody.hasPullEntry(p.case_id, 'pull.unit-done', p.id)) return
        await this.#d.custody.append(p.case_id, `device:${deviceId}`, 'pull.unit-done', {
          pullId: p.id,
          bytes,
        })
        return
      case 'refused':
      case 'failed': {
        const reason = `unit ${ack.status}: ${ack.reason ?? 'no reason given'}`
        await this.#transition(p, { state: ack.status, reason, finished_at: at }, `pull.${ack.status}`, {
          reason,
        })
        await this.#d.audit.record({
          actor: `device:${deviceId}`,
          action: `pull.${ack.status}`,
          subject: `pull:${p.id}`,
          details: { caseId: p.case_id, reason },
        })
        this.pump()
        return
      }
    }
  }

  /** Changes a pull and puts the change in its case's custody log (only when the state changes). */
  async #transition(
    p: PullRow,
    patch: Partial<PullRow>,
    action: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    const { table, custody } = this.#d
    if (patch.state === undefined || patch.state === p.state) {
      await table.pulls.update(p.id, patch)
      return
    }
    const actor = action.startsWith('pull.offline') ? GATEWAY_ACTOR : `device:${p.device_id}`
    await table.transaction(async (t) => {
      await t.pulls.update(p.id, patch)
      await custody.append(p.case_id, actor, action, { pullId: p.id, ...details }, t.db)
    })
  }
}
