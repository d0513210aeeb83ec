/** A unit's place, as much of it as outlines need. */
export interface Placed {
  district: number
  lat: number
  lon: number
}

export interface DistrictOutline {
  district: number
  units: number
  /** The outline's corners, [lat, lon], counter-clockwise, not closed. */
  ring: Array<[number, number]>
  /**
   * Where the district's name is written: above the outline's top, centred on its units, clear of
   * the group of units below it.
   */
  label: [number, number]
}

/**
 * About 150 m of margin around the outermost units, so a district of one or
 * two units still has an area to see and to click.
 */
const MARGIN_DEG = 0.0015

/**
 * Each district's outline, drawn as the convex hull of its units with a
 * margin. The programme has no surveyed district boundaries, and the hull is
 * what matters on a map of units: where a district's units are.
 */
export function districtOutlines(units: readonly Placed[], marginDeg = MARGIN_DEG): DistrictOutline[] {
  const byDistrict = new Map<number, Placed[]>()
  for (const u of units) {
    const list = byDistrict.get(u.district)
    if (list) list.push(u)
    else byDistrict.set(u.district, [u])
  }
  const out: DistrictOutline[] = []
  for (const [district, list] of byDistrict) {
    const corners: Array<[number, number]> = []
    let top = Number.NEGATIVE_INFINITY
    let lonSum = 0
    for (const u of list) {
      top = Math.max(top, u.lat)
      lonSum += u.lon
      corners.push(
        [u.lon - marginDeg, u.lat - marginDeg],
        [u.lon + marginDeg, u.lat - marginDeg],
        [u.lon + marginDeg, u.lat + marginDeg],
        [u.lon - marginDeg, u.lat + marginDeg],
      )
    }
    out.push({
      district,
      units: list.length,
      ring: convexHull(corners).map(([x, y]) => [y, x]),
      label: [top + marginDeg, lonSum / list.length],
    })
  }
  return out.sort((a, b) => a.district - b.district)
}

function cross(o: [number, number], a: [number, number], b: [number, number]): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/** Andrew's monotone chain over [x, y] points: the hull counter-clockwise, collinear points dropped. */
export function convexHull(points: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const p = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1])
  if (p.length < 3) return p
  const lower: Array<[number, number]> = []
  for (const pt of p) {
    while (
      lower.length >= 2 &&
      cross(lower[lower.length - 2] as [number, number], lower[lower.length - 1] as [number, number], pt) <= 0
    )
      lower.pop()
    lower.push(pt)
  }
  const upper: Array<[number, number]> = []
  for (let i = p.length - 1; i >= 0; i--) {
    const pt = p[i] as [number, number]
    while (
      upper.length >= 2 &&
      cross(upper[upper.length - 2] as [number, number], upper[upper.length - 1] as [number, number], pt) <= 0
    )
      upper.pop()
    upper.push(pt)
  }
  lower.pop()
  upper.pop()
  return lower.concat(upper)
}
