import type { ConfigOverview, ConfigStatus, UnitConfigView } from '@doorstep/proto'
import type { DeviceRecord } from '../registry/index.js'
import type { DesiredRow, ReportedRow } from './config-table.js'

/** Where a unit stands against its desired version (see proto `ConfigStatus`). */
export function statusOf(desired: DesiredRow | null, reported: ReportedRow | null): ConfigStatus {
  if (!desired) return 'unset'
  if (reported?.version !== desired.version) return 'lagging'
  return reported.applied ? 'applied' : 'refused'
}

export function configView(
  device: DeviceRecord,
  desired: DesiredRow | null,
  reported: ReportedRow | null,
  now: number,
): UnitConfigView {
  const status = statusOf(desired, reported)
  return {
    deviceId: device.id,
    district: device.district,
    status,
    desired: desired
      ? {
          version: desired.version,
          config: desired.config,
          at: desired.at,
          by: desired.by,
          scope: desired.scope,
        }
      : null,
    reported: reported
      ? {
          version: reported.version,
          applied: reported.applied,
          reason: reported.reason,
          runningVersion: reported.runningVersion,
          running: reported.running,
          at: reported.at,
        }
      : null,
    lagMs: status === 'lagging' && desired ? Math.max(0, now - desired.at) : null,
  }
}

/** Counts per district, in district order. */
export function countsByDistrict(views: readonly UnitConfigView[]): ConfigOverview['districts'] {
  const by = new Map<number, ConfigOverview['districts'][number]>()
  for (const v of views) {
    let c = by.get(v.district)
    if (!c) {
      c = { district: v.district, units: 0, applied: 0, lagging: 0, refused: 0, unset: 0 }
      by.set(v.district, c)
    }
    c.units++
    c[v.status]++
  }
  return [...by.values()].sort((a, b) => a.district - b.district)
}
