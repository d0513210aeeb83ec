import { type DeviceView, Heartbeat } from '@doorstep/proto'

const cache = new WeakMap<object, Heartbeat | null>()

/**
 * A unit's last heartbeat, typed. DeviceView carries it as an open record
 * (the gateway stores what the unit sent), so it is checked against the
 * proto schema once per object and remembered.
 */
export function lastHeartbeatOf(d: DeviceView): Heartbeat | null {
  const raw = d.lastHeartbeat
  if (!raw) return null
  let hb = cache.get(raw)
  if (hb === undefined) {
    const parsed = Heartbeat.safeParse(raw)
    hb = parsed.success ? parsed.data : null
    cache.set(raw, hb)
  }
  return hb
}

/** Free storage as a share of total, 0..1, or null without a heartbeat. */
export function storageFreeRatio(hb: Heartbeat | null): number | null {
  if (!hb || !(hb.storageTotalMb > 0)) return null
  return Math.min(1, Math.max(0, hb.storageFreeMb / hb.storageTotalMb))
}
