import type { QuietHours } from '@doorstep/proto'

const minutesOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':')
  return Number(h) * 60 + Number(m)
}

/** Minutes since midnight at `at` on the wall clock of `timeZone`. */
function wallMinutes(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at)
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0)
  return get('hour') * 60 + get('minute')
}

/**
 * Whether `at` falls in the daily span [start, end) of the rule's time zone. A span whose start is
 * after its end wraps midnight; equal ends mean no quiet hours at all.
 */
export function inQuietHours(q: QuietHours | null, at: number): boolean {
  if (!q) return false
  const start = minutesOf(q.start)
  const end = minutesOf(q.end)
  if (start === end) return false
  const now = wallMinutes(at, q.timeZone)
  return start < end ? now >= start && now < end : now >= start || now < end
}
