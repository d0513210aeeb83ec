import { useEffect, useRef } from 'preact/hooks'
import { useStore } from '../lib/store.js'
import { useServices } from '../services.js'

/**
 * Calls `reload` whenever the fleet may have changed (presence storms gathered, a gap in the feed, a
 * reconnect: `FleetRevision`), not on the first render, which fetched already. `enabled: false` skips
 * the moves (a list too big to fetch on every presence change).
 */
export function useReloadOnFleetChange(reload: () => void, enabled = true): void {
  const revision = useStore(useServices().fleet.store)
  const seen = useRef(revision)
  useEffect(() => {
    if (!enabled || seen.current === revision) return
    seen.current = revision
    reload()
  }, [revision, enabled])
}
