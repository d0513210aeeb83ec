import type { CaseArea } from '@doorstep/proto'
import { DoorstepError } from '../errors.js'
import { haversineM } from '../events/index.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/index.js'

export interface MatchedDevice {
  device: DeviceRecord
  /** From the centre of a `radius` area, metres; null otherwise. */
  distanceM: number | null
}

/**
 * The units a case covers: those of a district, those within a radius of a
 * point (great-circle distance from the unit's registered location), or the
 * units named. Disabled units are included: their stored footage still counts.
 * Nearest first for a radius; by id otherwise.
 */
export function matchArea(registry: Pick<DeviceRegistry, 'get' | 'list'>, area: CaseArea): MatchedDevice[] {
  switch (area.kind) {
    case 'district':
      return registry
        .list({ district: area.district })
        .map((device) => ({ device, distanceM: null }))
        .sort((a, b) => a.device.id.localeCompare(b.device.id))
    case 'radius': {
      const out: MatchedDevice[] = []
      for (const device of registry.list({})) {
        const d = haversineM(area.lat, area.lon, device.lat, device.lon)
        if (d <= area.radiusM) out.push({ device, distanceM: Math.round(d * 10) / 10 })
      }
      return out.sort(
        (a, b) => (a.distanceM ?? 0) - (b.distanceM ?? 0) || a.device.id.localeCompare(b.device.id),
      )
    }
    case 'devices': {
      const ids = [...new Set(area.ids)]
      const unknown = ids.filter((id) => !registry.get(id))
      if (unknown.length > 0) {
        throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', `area.ids: unknown units ${unknown.join(', ')}`, {
          unknown,
        })
      }
      return ids.map((id) => ({ device: registry.get(id) as DeviceRecord, distanceM: null }))
    }
  }
}
