import type { DeviceCreateInput, DeviceCredentials, ReleasePolicy } from '@doorstep/proto'

/** A unit as the registry knows it. The secret hash never leaves the registry. */
export interface DeviceRecord {
  id: string
  serial: string
  district: number
  address: string
  ownerContact: string
  lat: number
  lon: number
  model: string
  firmware: string
  setting: 'urban' | 'rural'
  releasePolicy: ReleasePolicy
  enabled: boolean
  createdAt: number
}

/**
 * What the gateway needs from a device registry. SQLite implements it on one
 * machine; a shared store can implement it for several gateways.
 */
export interface DeviceRegistry {
  /** Validates the input itself: callers may pass raw rows. */
  create(input: DeviceCreateInput): Promise<DeviceCredentials>
  /** All rows or none. Throws DOORSTEP_ERR_IMPORT_INVALID with per-row details. */
  importMany(rows: readonly unknown[]): Promise<DeviceCredentials[]>
  /** Fast, in-memory lookup: called once per message on the ingest path. */
  get(id: string): DeviceRecord | undefined
  list(filter: { district?: number | undefined }): DeviceRecord[]
  count(): number
  /**
   * Resolves the record when the secret is right and the unit enabled, else
   * null; `'busy'` when too many secret checks are already running and the
   * caller should ask the unit to come back later. `gone`: the asker went away (its connection closed);
   * a check still waiting in line is then dropped (`'busy'`) rather than done for no one.
   */
  authenticate(id: string, secret: string, gone?: AbortSignal): Promise<DeviceRecord | null | 'busy'>
  updateIdentity(id: string, model: string, firmware: string): void
  /** Disabling takes effect at once for new checks; the caller closes live connections. */
  setEnabled(id: string, enabled: boolean): Promise<void>
  /**
   * Gives the unit a new secret and returns it (to show once): the old one fails every check from
   * now on, cached or in flight.
   */
  rotateSecret(id: string): Promise<string>
}
