import type { DeviceCreateInput } from '@doorstep/proto'

let serial = 0

/** A valid provisioning row; `over` replaces fields. */
export function deviceRow(over: Partial<DeviceCreateInput> = {}): DeviceCreateInput {
  serial++
  return {
    serial: `SN-${process.pid}-${serial}`,
    district: 7,
    address: '12 Main St',
    ownerContact: 'owner@example.org',
    lat: 29.3,
    lon: 117.2,
    model: 'DS-C3W',
    firmware: '2.4.1',
    ...over,
  }
}
