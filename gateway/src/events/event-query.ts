import type { EventsQuery } from '@doorstep/proto'
import { decodeCursor } from './event-cursor.js'
import { boundingBox } from './geo.js'

/**
 * The clip index holds only rows with a clip announced; SQLite uses a
 * partial index only when the query repeats its condition.
 */
export const CLIP_INDEXED = "clip_state <> 'none'"

/**
 * The SQL of one page of the events API over the given event tables: newest
 * first, keyset-paginated on (started_at, event_id), one row more than the
 * page to tell whether another follows. Each table gives at most that many
 * rows in index order and the union is sorted once: a page costs the same
 * whether the window spans one month or twelve. `near` uses
 * `doorstep_haversine_m`, which `EventIndex.load` registers.
 */
export function pageQuery(
  q: EventsQuery,
  tables: readonly string[],
): { sql: string; params: Array<string | number> } {
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
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : ''
  const order = 'ORDER BY started_at DESC, event_id DESC LIMIT ?'
  const one = (t: string) => `SELECT * FROM ${t} ${filter} ${order}`
  if (tables.length === 1) return { sql: one(tables[0] as string), params: [...params, q.limit + 1] }
  const sql = `${tables.map((t) => `SELECT * FROM (${one(t)})`).join(' UNION ALL ')} ${order}`
  const all: Array<string | number> = []
  for (const _ of tables) all.push(...params, q.limit + 1)
  all.push(q.limit + 1)
  return { sql, params: all }
}

/**
 * The SQL of the events of some units that started in [from, to], over the
 * given event tables, newest first, at most `perUnit` of each unit (its
 * newest): one statement, however many units. Each table walks its
 * (device_id, started_at) index once per unit named in the JSON array bound.
 */
export function unitsQuery(
  tables: readonly string[],
  deviceIds: readonly string[],
  from: number,
  to: number,
  perUnit: number,
): { sql: string; params: Array<string | number> } {
  const one = (t: string) =>
    `SELECT * FROM ${t} WHERE device_id IN (SELECT value FROM json_each(?)) AND started_at BETWEEN ? AND ?`
  const ranked = `SELECT *, row_number() OVER (PARTITION BY device_id ORDER BY started_at DESC, event_id DESC) AS nth
    FROM (${tables.map(one).join(' UNION ALL ')})`
  const sql = `SELECT * FROM (${ranked}) WHERE nth <= ? ORDER BY started_at DESC, event_id DESC`
  const ids = JSON.stringify(deviceIds)
  const params: Array<string | number> = []
  for (const _ of tables) params.push(ids, from, to)
  params.push(perUnit)
  return { sql, params }
}
