import { randomUUID } from 'node:crypto'
import type {
  CaseView,
  ConsentDecision,
  ConsentRequest,
  LegalOrder,
  PullState,
  PullView,
} from '@doorstep/proto'
import type { AuditLog } from '../audit/index.js'
import type { Principal } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import { ownedDevice, ownedDevices } from '../people/index.js'
import type { DeviceRegistry } from '../registry/index.js'
import type { CaseStore } from './case-store.js'
import type { CustodyLog } from './custody.js'
import type { PullDispatch } from './pull-dispatch.js'
import type { PullRow } from './pull-table.js'

export interface ConsentDeps {
  table: CaseStore
  custody: CustodyLog
  audit: AuditLog
  registry: Pick<DeviceRegistry, 'get' | 'list'>
  dispatch: Pick<PullDispatch, 'pump' | 'settled'>
  now: () => number
}

const NEVER_REASON = 'release policy is never: footage is released only on a legal order recorded by an admin'
const DECLINED_REASON = 'the owner declined'

/**
 * Whether a unit's footage may leave it, per case:
 * - `always`: the release policy set at installation is the consent, recorded when the case opens;
 * - `ask`: the pull waits (`awaiting-consent`) for the owner's decision, who and when recorded;
 * - `never`: refused, unless an admin records a legal order number, which also overrides a decline.
 * Every decision is a row in `consents` and an entry in the case's custody log and the audit log.
 */
export class Consent {
  readonly #d: ConsentDeps

  constructor(deps: ConsentDeps) {
    this.#d = deps
  }

  /** A new pull for a unit of an open case, in the state its consent allows. */
  async newPull(c: CaseView, deviceId: string, actor: string): Promise<PullRow> {
    const { table, custody, audit } = this.#d
    const device = this.#d.registry.get(deviceId)
    if (!device) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${deviceId}`)
    const at = this.#d.now()
    const id = randomUUID()
    return table.transaction(async (t) => {
      let consent = await t.consents.current(c.id, deviceId)
      let state: PullState
      let reason: string | null = null
      if (consent?.granted) state = 'pending'
      else if (device.releasePolicy === 'ask') {
        state = consent?.basis === 'owner-declined' ? 'refused' : 'awaiting-consent'
        if (state === 'refused') reason = DECLINED_REASON
      } else if (device.releasePolicy === 'never') {
        consent ??= await t.consents.insert({
          caseId: c.id,
          deviceId,
          pullId: id,
          basis: 'policy-never',
          granted: false,
          decidedBy: 'release policy set at installation',
          decidedAt: at,
        })
        state = 'refused'
        reason = NEVER_REASON
      } else {
        // `always`, but the case predates the unit joining it: record the policy now.
        consent = await t.consents.insert({
          caseId: c.id,
          deviceId,
          pullId: id,
          basis: 'policy-always',
          granted: true,
          decidedBy: 'release policy set at installation',
          decidedAt: at,
        })
        state = 'pending'
      }
      await t.pulls.insert({
        id,
        case_id: c.id,
        device_id: deviceId,
        district: device.district,
        window_from: c.from,
        window_to: c.to,
        state,
        reason,
        requested_by: actor,
        requested_at: at,
        consent_id: consent?.id ?? null,
        legal_order: consent?.legalOrder ?? null,
      })
      await custody.append(
        c.id,
        actor,
        'pull.requested',
        { pullId: id, deviceId, from: c.from, to: c.to, state, consentId: consent?.id ?? null },
        t.db,
      )
      await audit.append(
        { actor, action: 'pull.request', subject: `pull:${id}`, details: { caseId: c.id, deviceId, state } },
        t.db,
      )
      const row = await t.pulls.get(id)
      if (!row) throw new Error(`pull ${id} not found after its insert`)
      return row
    })
  }

  /** The requests for an owner's units: waiting ones first, then those decided. */
  async requestsFor(p: Principal | null): Promise<ConsentRequest[]> {
    const { table, registry } = this.#d
    const devices = new Map(ownedDevices(registry, p).map((d) => [d.id, d]))
    const out: ConsentRequest[] = []
    for (const pull of await table.pulls.forOwner([...devices.keys()])) {
      const c = await table.cases.get(pull.case_id)
      const d = devices.get(pull.device_id)
      if (!c || !d) continue
      const consent = pull.consent_id === null ? null : await table.consents.get(pull.consent_id)
      const state =
        pull.state === 'awaiting-consent'
          ? 'waiting'
          : consent?.basis === 'owner-approved'
            ? 'approved'
            : consent?.basis === 'legal-order'
              ? 'legal-order'
              : 'declined'
      out.push({
        pullId: pull.id,
        caseNumber: c.number,
        reason: c.reason,
        from: pull.window_from,
        to: pull.window_to,
        deviceId: d.id,
        address: d.address,
        requestedBy: pull.requested_by,
        requestedAt: pull.requested_at,
        state,
        decidedAt: consent?.decidedAt ?? null,
        decidedBy: consent?.decidedBy ?? null,
        note: consent?.note ?? null,
      })
    }
    return out.sort((a, b) => Number(b.state === 'waiting') - Number(a.state === 'waiting'))
  }

  /** The owner's answer to a request for their unit's footage. */
  async decide(
    pullId: string,
    principal: Principal | null,
    body: ConsentDecision,
    actor: string,
  ): Promise<PullView> {
    const { table, custody, audit } = this.#d
    const found = await table.pulls.get(pullId)
    if (!found) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No consent request ${pullId}`)
    ownedDevice(this.#d.registry, principal, found.device_id)
    await this.#openCase(found.case_id)
    const approve = body.decision === 'approve'
    const at = this.#d.now()
    await table.transaction(async (t) => {
      // Read again under the row's lock: two answers at once, through two gateways, must not both be
      // recorded.
      await t.pulls.lock(pullId)
      const p = await t.pulls.get(pullId)
      if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No consent request ${pullId}`)
      if (p.state !== 'awaiting-consent') {
        throw new DoorstepError(
          'DOORSTEP_ERR_CONSENT_DECIDED',
          `This request is already decided (${p.state})`,
        )
      }
      const consent = await t.consents.insert({
        caseId: p.case_id,
        deviceId: p.device_id,
        pullId,
        basis: approve ? 'owner-approved' : 'owner-declined',
        granted: approve,
        decidedBy: actor,
        decidedAt: at,
        note: body.note ?? null,
      })
      await t.pulls.update(
        pullId,
        approve
          ? { state: 'pending', consent_id: consent.id, sent_at: null }
          : { state: 'refused', consent_id: consent.id, reason: DECLINED_REASON, finished_at: at },
      )
      await custody.append(
        p.case_id,
        actor,
        'consent.decided',
        { pullId, deviceId: p.device_id, consentId: consent.id, decision: body.decision },
        t.db,
      )
      await audit.append(
        {
          actor,
          action: 'consent.decide',
          subject: `pull:${pullId}`,
          details: { caseId: p.case_id, deviceId: p.device_id, decision: body.decision },
        },
        t.db,
      )
    })
    return this.#afterChange(pullId)
  }

  /**
   * An admin records a legal order for a unit whose policy refused (or whose
   * owner declined, or has not answered): the pull goes ahead, and the command
   * carries the order number for the unit.
   */
  async legalOrder(pullId: string, body: LegalOrder, actor: string): Promise<PullView> {
    const { table, custody, audit } = this.#d
    const found = await table.pulls.get(pullId)
    if (!found) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${pullId}`)
    await this.#openCase(found.case_id)
    const at = this.#d.now()
    await table.transaction(async (t) => {
      // Read again under the row's lock: the pull may have moved on since.
      await t.pulls.lock(pullId)
      const p = await t.pulls.get(pullId)
      if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${pullId}`)
      const basis = p.consent_id === null ? null : ((await t.consents.get(p.consent_id))?.basis ?? null)
      const overridable =
        p.state === 'awaiting-consent' ||
        (p.state === 'refused' && (basis === 'policy-never' || basis === 'owner-declined'))
      if (!overridable) {
        throw new DoorstepError(
          'DOORSTEP_ERR_PULL_STATE',
          `A legal order is recorded only for a pull refused by policy or owner, or awaiting consent; this one is ${p.state}`,
        )
      }
      const consent = await t.consents.insert({
        caseId: p.case_id,
        deviceId: p.device_id,
        pullId,
        basis: 'legal-order',
        granted: true,
        decidedBy: actor,
        decidedAt: at,
        legalOrder: body.orderNumber,
        note: body.note ?? null,
      })
      await t.pulls.update(pullId, {
        state: 'pending',
        sent_at: null,
        reason: null,
        finished_at: null,
        consent_id: consent.id,
        legal_order: body.orderNumber,
      })
      await custody.append(
        p.case_id,
        actor,
        'consent.legal-order',
        {
          pullId,
          deviceId: p.device_id,
          consentId: consent.id,
          orderNumber: body.orderNumber,
          overrides: basis,
        },
        t.db,
      )
      await audit.append(
        {
          actor,
          action: 'consent.legal-order',
          subject: `pull:${pullId}`,
          details: { caseId: p.case_id, deviceId: p.device_id, orderNumber: body.orderNumber },
        },
        t.db,
      )
    })
    return this.#afterChange(pullId)
  }

  /** The pull after a decision, once the dispatch pass it asks for has run. */
  async #afterChange(pullId: string): Promise<PullView> {
    const { table, dispatch } = this.#d
    dispatch.pump()
    await dispatch.settled()
    const p = await table.pulls.get(pullId)
    if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${pullId}`)
    return table.pulls.view(p)
  }

  async #openCase(caseId: string): Promise<void> {
    const c = await this.#d.table.cases.get(caseId)
    if (!c) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No case ${caseId}`)
    if (c.state !== 'open') throw new DoorstepError('DOORSTEP_ERR_CASE_CLOSED', `Case ${c.number} is closed`)
  }
}
