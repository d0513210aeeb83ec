import { useCallback, useEffect, useRef } from 'preact/hooks'

/**
 * After a change, the units answer over MQTT within seconds, and no socket frame says so: the page asks
 * again a few times, further apart each time, and then stops. Never a steady poll.
 */
const AFTER_MS = [1_000, 2_000, 4_000, 8_000, 15_000, 30_000]

export function useFollowChange(reload: () => void): () => void {
  const timers = useRef<ReturnType<typeof setTimeout>[]>([])
  const reloadRef = useRef(reload)
  reloadRef.current = reload
  const stop = () => {
    for (const t of timers.current) clearTimeout(t)
    timers.current = []
  }
  useEffect(() => stop, [])
  return useCallback(() => {
    stop()
    timers.current = AFTER_MS.map((ms) => setTimeout(() => reloadRef.current(), ms))
  }, [])
}
