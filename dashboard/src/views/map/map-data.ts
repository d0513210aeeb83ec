import type { MapResponse } from '@doorstep/proto'
import { type AsyncState, useAsync } from '../../lib/hooks.js'
import { useServices } from '../../services.js'
import { useReloadOnFleetChange } from '../fleet-reload.js'

/**
 * The units for the map, fetched again when the fleet moves (the same
 * presence-storm-gathering revision the other fleet views follow) and every
 * minute besides, so a missed frame never leaves a dot the wrong colour.
 */
export function useMapData(): AsyncState<MapResponse> {
  const { api } = useServices()
  const data = useAsync((signal) => api.map(signal), [], { refreshMs: 60_000 })
  useReloadOnFleetChange(data.reload)
  return data
}
