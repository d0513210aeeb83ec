import { Command, type CommandAck, topicFor } from '@doorstep/proto'
import type { AuditLog } from '../audit/index.js'
import type { EventBus } from '../event-bus.js'
import type { Logger } from '../log.js'
import { type CommandChannel, CommandListeners } from '../mqtt/index.js'
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
 *   is sent again, from SQLite, so a gateway restart or an in-memory broker
 *   losing its offline queue loses nothing. Units must treat a repeated
 *   `cmdId` as the same command (and resume its upload).
 * - Budget: at most `districtConcurrency` pulls of one district are in
 *   flight (sent and not finished); the rest wait, oldest first.
 * - Acks from the unit (`device.cmdAck`) move the pull along; `done` comes
 *   from the gateway storing the recording, not from the unit's word. Only
 *   changes go on the custody log (a state change, the unit's first `done`),
 *   so repeated acks add nothing to it.
 */
export class PullDispatch {
  readonly #d: DispatchDeps
  readonly #listeners: CommandListeners
  #off: Array<() => void> = []

  constructor(deps: DispatchDeps) {
    this.#d = deps
    this.#listeners = new CommandListeners(deps.broker, deps.bus, {
      ready: (deviceId) => this.#wake(deviceId),
      gone: (deviceId) => this.#away(deviceId),
    })
  }

  start(): void {
    const { bus, table } = this.#d
    // No unit is connected yet: what was in flight when the gateway stopped waits for its unit.
    for (const p of table.pulls.inFlight()) {
      this.#transition(p, { state: 'offline', sent_at: null }, 'pull.offline', { after: 'gateway restart' })
    }
    this.#listeners.start()
    this.#off.push(bus.on('device.cmdAck', ({ device, ack, at }) => this.#onAck(device.id, ack, at)))
  }

  stop(): void {
    for (const off of this.#off) off()
    this.#off = []
    this.#listeners.stop()
  }

  /**
   * Sends what may be sent now: each unsent pending pull whose unit listens
   * and whose district has room. Synchronous (the send marks the row first),
   * so calls never overlap.
   */
  pump(): void {
    const { table, broker } = this.#d
    for (const p of table.pulls.unsent()) {
      if (!broker.isConnected(p.device_id)) {
        this.#transition(p, { state: 'offline' }, 'pull.offline', { deviceId: p.device_id })
        continue
      }
      if (!this.#listeners.has(p.device_id)) continue
      if (table.pulls.activeInDistrict(p.district) >= this.#d.districtConcurrency) continue
      this.#send(p)
    }
  }

  #send(p: PullRow): void {
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
    table.pulls.update(p.id, { sent_at: at, sends: p.sends + 1 })
    this.#d.custody.append(p.case_id, GATEWAY_ACTOR, 'pull.sent', {
      pullId: p.id,
      deviceId: p.device_id,
      attempt: p.sends + 1,
    })
    broker.publish(topicFor('cmd', p.device_id), JSON.stringify(cmd), { qos: 1 }).catch((err: Error) => {
      log.warn(
        { pullId: p.id, device: p.device_id, err: err.message },
        'pull command not published; will retry',
      )
      const cur = table.pulls.get(p.id)
      if (cur?.state === 'pending') table.pulls.update(p.id, { sent_at: null })
    })
  }

  /** The unit is back: its waiting pulls go back in line. */
  #wake(deviceId: string): void {
    for (const p of this.#d.table.pulls.ofDevice(deviceId, ['offline'])) {
      this.#d.table.pulls.update(p.id, { state: 'pending', sent_at: null })
    }
    this.pump()
  }

  /** The unit left: what it had in flight waits for it (and frees the district's budget). */
  #away(deviceId: string): void {
    for (const p of this.#d.table.pulls.ofDevice(deviceId, ['pending', 'uploading'])) {
      if (p.state === 'pending' && p.sent_at === null) continue
      this.#transition(p, { state: 'offline', sent_at: null }, 'pull.offline', { deviceId, bytes: p.bytes })
    }
    this.pump()
  }

  #onAck(deviceId: string, ack: CommandAck, at: number): void {
    const { table, log } = this.#d
    const p = table.pulls.get(ack.cmdId)
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
        this.#transition(p, { state: 'uploading', accepted_at: at, bytes }, 'pull.accepted', {})
        return
      case 'uploading':
        // Progress is not custody: only the first report of it goes on the record.
        if (p.state === 'uploading') table.pulls.update(p.id, { bytes })
        else
          this.#transition(
            p,
            { state: 'uploading', bytes, accepted_at: p.accepted_at ?? at },
            'pull.accepted',
            {},
          )
        return
      case 'done':
        // `done` is the gateway's to say, when the recording is stored; the unit's word goes on record,
        // once: a unit repeating it must not grow the case's append-only log without bound.
        if (this.#d.custody.hasPullEntry(p.case_id, 'pull.unit-done', p.id)) return
        this.#d.custody.append(p.case_id, `device:${deviceId}`, 'pull.unit-done', { pullId: p.id, bytes })
        return
      case 'refused':
      case 'failed': {
        const reason = `unit ${ack.status}: ${ack.reason ?? 'no reason given'}`
        this.#transition(p, { state: ack.status, reason, finished_at: at }, `pull.${ack.status}`, { reason })
        this.#d.audit.record({
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
  #transition(p: PullRow, patch: Partial<PullRow>, action: string, details: Record<string, unknown>): void {
    this.#d.table.pulls.update(p.id, patch)
    if (patch.state !== undefined && patch.state !== p.state) {
      const actor = action.startsWith('pull.offline') ? GATEWAY_ACTOR : `device:${p.device_id}`
      this.#d.custody.append(p.case_id, actor, action, { pullId: p.id, ...details })
    }
  }
}
