import type { DeviceRecord } from '../../gateway/src/registry/registry.js'

/** Units in the programme's city. */
export const CITY_UNITS = 2896

/**
 * The city's units as registry records: 61 districts, 12 main streets, a
 * quarter rural, two models, spread over about 10 × 10 km as a county town's
 * units are. Deterministic, so runs compare.
 */
export function cityDevices(): DeviceRecord[] {
  return Array.from({ length: CITY_UNITS }, (_, i) => ({
    id: `cam-${String(i).padStart(5, '0')}`,
    serial: `SN-${i}`,
    district: (i % 61) + 1,
    address: `${(i % 12) + 1} Main St`,
    ownerContact: 'bench',
    lat: 29.25 + ((i * 7919) % 1000) / 10_000,
    lon: 117.15 + ((i * 104_729) % 1000) / 10_000,
    model: i % 3 === 0 ? 'DS-C3W' : 'DS-C6N',
    firmware: '2.4.1',
    setting: i % 4 === 0 ? 'rural' : 'urban',
    releasePolicy: 'ask',
    enabled: true,
    createdAt: 0,
  }))
}
