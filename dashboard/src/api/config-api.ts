import type {
  ConfigChangeResult,
  ConfigOverview,
  ConfigStatus,
  UnitConfigPatch,
  UnitConfigView,
} from '@doorstep/proto'
import type { HttpClient } from './http.js'

/** Whose desired configuration a change sets: one unit, every unit of a district, or the fleet. */
export type ConfigScope =
  | { kind: 'device'; id: string }
  | { kind: 'district'; district: number }
  | { kind: 'fleet' }

/** What GET /api/v1/config filters on (ConfigQuery in proto). */
export interface ConfigFilter {
  district?: number
  status?: ConfigStatus
}

/** The remote-configuration routes (admin and ops), kept apart from `Api` as a room of its own. */
export const configApi = {
  overview(http: HttpClient, q: ConfigFilter, signal?: AbortSignal): Promise<ConfigOverview> {
    return http.get('api/v1/config', { ...q }, signal)
  },

  unit(http: HttpClient, id: string, signal?: AbortSignal): Promise<UnitConfigView> {
    return http.get(`api/v1/config/devices/${encodeURIComponent(id)}`, undefined, signal)
  },

  change(http: HttpClient, scope: ConfigScope, patch: UnitConfigPatch): Promise<ConfigChangeResult> {
    return http.put(pathOf(scope), patch)
  },
}

function pathOf(scope: ConfigScope): string {
  switch (scope.kind) {
    case 'device':
      return `api/v1/config/devices/${encodeURIComponent(scope.id)}`
    case 'district':
      return `api/v1/config/districts/${scope.district}`
    case 'fleet':
      return 'api/v1/config/fleet'
  }
}
