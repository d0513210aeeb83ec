import type { EventsQuery } from '@doorstep/proto'
import { decodeCursor } from './event-cursor.js'
import { boundingBox } from './geo.js'

/**
 * The clip index holds only rows with a clip announced; SQLite uses a
 * partial index only when the query repeats its condition.
 */
export const CLIP_INDEXED = "clip_state <> 'none'"

/**
 * The SQL of one page of the events API: newest first, keyset-paginated on
 * (started_at, event_id), one row more than the page to tell whether another
 * follows. `near` uses `doorstep_haversine_m`, which `EventIndex.load` registers.
 */
export function pageQuery(q: EventsQuery): { sql: string; params: Array<string | number> } {
  const where: string[] = []
  const params: Array<string | number> = []
  if (q.from !== undefined) {
    where.push('started_at >= ?')
    params.push(q.from)
  }
  if (q.to !== undefined) {
    where.push('started_at <= ?')
    params.push(q.to)
  }
  if (q.district !== undefined) {
    where.push('district = ?')
    params.push(q.district)
  }
  if (q.device !== undefined) {
    where.push('device_id = ?')
    params.push(q.device)
  }
  if (q.kind !== undefined) {
    where.push('kind = ?')
    params.push(q.kind)
  }
  if (q.hasClip !== undefined)
    where.push(q.hasClip ? `clip_state = 'ready' AND ${CLIP_INDEXED}` : "clip_state != 'ready'")
  if (q.near) {
    const { lat, lon, radiusM } = q.near
    const box = boundingBox(lat, lon, radiusM)
    where.push('lat BETWEEN ? AND ?')
    params.push(box.minLat, box.maxLat)
    if (box.lon) {
      where.push(box.lon.wraps ? '(lon >= ? OR lon <= ?)' : 'lon BETWEEN ? AND ?')
      params.push(box.lon.minLon, box.lon.maxLon)
    }
    where.push('doorstep_haversine_m(?, ?, lat, lon) <= ?')
    params.push(lat, lon, radiusM)
  }
  if (q.cursor) {
    const c = decodeCursor(q.cursor)
    where.push('(started_at < ? OR (started_at = ? AND event_id < ?))')
    params.push(c.startedAt, c.startedAt, c.id)
  }
  const sql = `SELECT * FROM event_index ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY started_at DESC, event_id DESC LIMIT ?`
  params.push(q.limit + 1)
  return { sql, params }
}
