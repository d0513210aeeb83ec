import type { Principal } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord, DeviceRegistry } from '../registry/index.js'

/**
 * An owner sees only the units registered under their token's ownerContact
 * (exact match). Anything else answers 404, as if it did not exist: an owner
 * must not learn which other units there are.
 */
export function owns(p: Principal | null, device: DeviceRecord | undefined): device is DeviceRecord {
  return !!p && !!device && p.ownerContact !== null && device.ownerContact === p.ownerContact
}

export function ownedDevices(registry: Pick<DeviceRegistry, 'list'>, p: Principal | null): DeviceRecord[] {
  if (!p || p.ownerContact === null) return []
  return registry.list({}).filter((d) => d.ownerContact === p.ownerContact)
}

export function ownedDevice(
  registry: Pick<DeviceRegistry, 'get'>,
  p: Principal | null,
  id: string,
): DeviceRecord {
  const d = registry.get(id)
  if (!owns(p, d)) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No device ${id} of yours`)
  return d
}
