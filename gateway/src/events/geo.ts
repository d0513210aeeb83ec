/** Mean Earth radius (IUGG), metres: what the haversine distance assumes. */
const EARTH_RADIUS_M = 6_371_008.8

const rad = (deg: number) => (deg * Math.PI) / 180
const deg = (r: number) => (r * 180) / Math.PI

/** Great-circle distance in metres between two points (haversine formula). */
export function haversineM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = rad(lat2 - lat1)
  const dLon = rad(lon2 - lon1)
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)))
}

/**
 * The lat/lon box that contains every point within `radiusM` of the centre,
 * so an index can narrow the candidates before the exact distance is
 * computed. `lon` is null when the box spans every longitude (a pole inside
 * the circle); `wraps` when it crosses the antimeridian, in which case the
 * longitudes wanted are `>= minLon OR <= maxLon`.
 */
export interface BoundingBox {
  minLat: number
  maxLat: number
  lon: { minLon: number; maxLon: number; wraps: boolean } | null
}

export function boundingBox(lat: number, lon: number, radiusM: number): BoundingBox {
  const angular = radiusM / EARTH_RADIUS_M
  const minLat = lat - deg(angular)
  const maxLat = lat + deg(angular)
  if (minLat <= -90 || maxLat >= 90) {
    return { minLat: Math.max(minLat, -90), maxLat: Math.min(maxLat, 90), lon: null }
  }
  // Widest longitude offset of the circle, at the latitude where it touches its meridian tangents.
  const dLon = deg(Math.asin(Math.sin(angular) / Math.cos(rad(lat))))
  let minLon = lon - dLon
  let maxLon = lon + dLon
  let wraps = false
  if (minLon < -180) {
    minLon += 360
    wraps = true
  }
  if (maxLon > 180) {
    maxLon -= 360
    wraps = true
  }
  return { minLat, maxLat, lon: { minLon, maxLon, wraps } }
}
