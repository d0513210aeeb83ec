import type { DeviceCreateInput } from '@doorstep/proto'
import type { DeviceRecord } from '../../gateway/src/registry/registry.js'

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

/** A registry record as the gateway holds it, for tests that skip provisioning; `over` replaces fields. */
export function deviceRecord(over: Partial<DeviceRecord> & Pick<DeviceRecord, 'id'>): DeviceRecord {
  return {
    serial: `SN-${over.id}`,
    district: 5,
    address: '1 Test St',
    ownerContact: 'o@example.org',
    lat: 29.3,
    lon: 117.2,
    model: 'm',
    firmware: 'f',
    setting: 'urban',
    releasePolicy: 'ask',
    enabled: true,
    createdAt: 0,
    ...over,
  }
}
