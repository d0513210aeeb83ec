import { type CampaignUnit, type CampaignView, UnitUpdateState } from '@doorstep/proto'
import type { UnitFrame } from '../../live/campaign-progress.js'

/** One unit's row: what was fetched, with the socket's newer state, bytes and reason over it. */
export type UnitRow = CampaignUnit

export type StateCounts = Record<UnitUpdateState, number>

export const UNIT_STATES: readonly UnitUpdateState[] = UnitUpdateState.options

export function liveRows(units: readonly CampaignUnit[], frames: ReadonlyMap<string, UnitFrame>): UnitRow[] {
  if (frames.size === 0) return units as UnitRow[]
  return units.map((u) => {
    const f = frames.get(u.deviceId)
    return f ? { ...u, state: f.state, bytes: f.bytes, reason: f.reason } : u
  })
}

export function countStates(rows: readonly UnitRow[]): StateCounts {
  const counts = Object.fromEntries(UNIT_STATES.map((s) => [s, 0])) as StateCounts
  for (const r of rows) counts[r.state]++
  return counts
}

/**
 * The wave the campaign has opened. The gateway sends no frame when a wave opens, but a unit of wave
 * n leaving `pending` shows it is open; the fetched campaign says where it stood when fetched.
 */
export function openWave(view: Pick<CampaignView, 'wave'>, rows: readonly UnitRow[]): number {
  let wave = view.wave
  for (const r of rows) if (r.state !== 'pending' && r.state !== 'skipped' && r.wave > wave) wave = r.wave
  return wave
}
