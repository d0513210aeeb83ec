/** How the dashboard writes times, durations and sizes. One place, so every view says it the same way. */

/** A duration as people say it: "45 s", "12 min", "3 h 20 min", "2 d 4 h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`
}

/** "12 min ago", or "never" for a unit never heard from. */
export function formatAgo(at: number | null, now: number): string {
  if (at === null) return 'never'
  if (now - at < 5000) return 'just now'
  return `${formatDuration(now - at)} ago`
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
})

/** Clock time for today's items, date and time for older ones. */
export function formatTime(at: number, now: number = Date.now()): string {
  const sameDay = new Date(at).toDateString() === new Date(now).toDateString()
  return sameDay ? timeFmt.format(at) : dateTimeFmt.format(at)
}

export function formatDateTime(at: number): string {
  return dateTimeFmt.format(at)
}

/** Storage in MiB as the units report it: "812 MiB", "28.4 GiB". */
export function formatMiB(mib: number): string {
  if (!Number.isFinite(mib)) return '–'
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–'
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`
}

export function formatPct(part: number, whole: number): string {
  if (!(whole > 0)) return '–'
  return `${Math.round((part / whole) * 100)}%`
}
