import type { CaseView, Hold } from '@doorstep/proto'
import type { AuditLog } from '../audit/index.js'
import type { Clips } from '../clips/index.js'
import { DoorstepError } from '../errors.js'
import type { EventIndex, EventReader, IndexedEvent } from '../events/index.js'
import type { Logger } from '../log.js'
import type { CaseStore } from './case-store.js'
import type { CustodyLog } from './custody.js'
import { GATEWAY_ACTOR } from './pull-dispatch.js'

/** Events that started this long before a window may still run into it. */
const EVENT_LEAD_MS = 15 * 60_000
const MAX_EVENTS_PER_DEVICE = 2000

export interface CaseHoldsDeps {
  table: CaseStore
  custody: CustodyLog
  audit: AuditLog
  events: () => EventIndex
  /** Every gateway's events when they share PostgreSQL; what a case's page lists. */
  reader: () => EventReader
  clips: Pick<Clips, 'hold' | 'release' | 'holds'>
  log: Logger
}

/**
 * A case's events and the holds on them: every event of the case's units
 * that overlaps its window is held (the clips feature's `hold()`, with the
 * case as reason) from the case's opening, and so are events that arrive
 * later (a unit that was away sends them on its return), until the case closes.
 */
export class CaseHolds {
  readonly #d: CaseHoldsDeps
  #queue: Promise<void> = Promise.resolve()

  constructor(deps: CaseHoldsDeps) {
    this.#d = deps
  }

  /** Events of a unit that overlap the case window, newest first. */
  /** A unit's events in the case window, as `listEvents` reads them (the export's). */
  eventsInWindow(c: Pick<CaseView, 'from' | 'to'>, deviceId: string): Promise<IndexedEvent[]> {
    return this.listEvents(c, [deviceId])
  }

  /**
   * Events of the units that overlap the case window, newest first (at most MAX_EVENTS_PER_DEVICE of
   * each), read where every gateway's events are (the cluster's table when gateways share PostgreSQL,
   * their clips too): one query for a case's whole area. A case's page, its preview, its holds and its
   * export list the same events.
   */
  async listEvents(c: Pick<CaseView, 'from' | 'to'>, deviceIds: readonly string[]): Promise<IndexedEvent[]> {
    return (
      await this.#d.reader().ofUnits(deviceIds, c.from - EVENT_LEAD_MS, c.to, MAX_EVENTS_PER_DEVICE)
    ).filter((e) => (e.endedAt ?? e.startedAt) >= c.from)
  }

  /** Holds every event of the case's units in its window that has no hold of the case yet. */
  holdAll(c: CaseView, actor: string): Promise<void> {
    return this.#serially(async () => {
      const units = (await this.#d.table.cases.devices(c.id)).map((row) => row.device_id)
      for (const e of await this.listEvents(c, units)) await this.#hold(c, e.id, actor)
    })
  }

  /** A new event from a unit of an open case (on the MQTT path: one indexed lookup per open case). */
  onEvent(deviceId: string, eventId: string): Promise<void> {
    return this.#serially(async () => {
      const e = this.#d.events().get(eventId)
      if (!e) return
      for (const c of await this.#d.table.cases.openOf(deviceId)) {
        if (e.startedAt <= c.to && (e.endedAt ?? e.startedAt) >= c.from)
          await this.#hold(c, eventId, GATEWAY_ACTOR)
      }
    }).catch((err: unknown) => this.#d.log.error({ err, eventId }, 'could not hold a case event'))
  }

  /** Resolves when the holds asked for so far are placed (or released). */
  async settled(): Promise<void> {
    await this.#queue
  }

  /** The holds of a case, released ones included. */
  async holdsOf(caseId: string): Promise<Hold[]> {
    const out: Hold[] = []
    for (const h of await this.#d.table.holds.ofCase(caseId)) {
      const of = await this.#d.clips.holds({ eventId: h.eventId, activeOnly: false })
      out.push(...of.filter((x) => x.id === h.holdId))
    }
    return out
  }

  /** Ends the case's holds: retention applies to its clips again. */
  releaseAll(caseId: string, actor: string): Promise<void> {
    return this.#serially(async () => {
      for (const h of await this.#d.table.holds.ofCase(caseId)) {
        // A hold id is this gateway's own: a hold another gateway placed (its clips are on its disk)
        // is not one of ours to release, even when an unrelated hold here has the same number.
        const mine = (await this.#d.clips.holds({ eventId: h.eventId })).some((x) => x.id === h.holdId)
        if (!mine || !(await this.#d.clips.release(h.holdId, actor))) continue
        await this.#d.custody.append(caseId, actor, 'hold.released', { eventId: h.eventId, holdId: h.holdId })
        await this.#d.audit.record({
          actor,
          action: 'hold.release',
          subject: `clip:${h.eventId}`,
          details: { caseId },
        })
      }
    })
  }

  /**
   * One change of holds at a time: "has the case a hold on this event?" and placing it would
   * otherwise interleave between a case's opening and an event arriving, and hold one event twice.
   */
  #serially(fn: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(fn)
    this.#queue = run.catch(() => {})
    return run
  }

  async #hold(c: CaseView, eventId: string, actor: string): Promise<void> {
    const { table, custody, audit } = this.#d
    if (await table.holds.has(c.id, eventId)) return
    let hold: Hold
    try {
      hold = await this.#d.clips.hold(eventId, `case ${c.number}`, actor)
    } catch (err) {
      if (err instanceof DoorstepError && err.code === 'DOORSTEP_ERR_CLIP_EXPIRED') return
      throw err
    }
    await table.transaction(async (t) => {
      await t.holds.add(c.id, eventId, hold.id)
      await custody.append(c.id, actor, 'hold.placed', { eventId, holdId: hold.id }, t.db)
    })
    await audit.record({
      actor,
      action: 'hold.place',
      subject: `clip:${eventId}`,
      details: { caseId: c.id, holdId: hold.id },
    })
  }
}
