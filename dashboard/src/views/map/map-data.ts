import type { MapResponse } from '@doorstep/proto'
import { useEffect, useRef } from 'preact/hooks'
import { type AsyncState, useAsync } from '../../lib/hooks.js'
import { useStore } from '../../lib/store.js'
import { useServices } from '../../services.js'

/**
 * The units for the map, fetched again when the fleet moves (the same
 * presence-storm-gathering revision the other fleet views follow) and every
 * minute besides, so a missed frame never leaves a dot the wrong colour.
 */
export function useMapData(): AsyncState<MapResponse> {
  const { api, fleet } = useServices()
  const data = useAsync((signal) => api.map(signal), [], { refreshMs: 60_000 })
  const revision = useStore(fleet.store)
  const first = useRef(true)
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    data.reload()
  }, [revision])
  return data
}
