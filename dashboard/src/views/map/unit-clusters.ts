import type { LiveState, MapUnit } from '@doorstep/proto'
import Supercluster from 'supercluster'

export type StateCounts = Record<LiveState, number>

export type MapFeature =
  | { kind: 'unit'; unit: MapUnit }
  | { kind: 'cluster'; id: number; lat: number; lon: number; count: number; states: StateCounts }

interface PointProps {
  unit: MapUnit
}

interface ClusterProps {
  online: number
  stale: number
  offline: number
  unknown: number
}

/** A cluster's size on screen, px: clusters never overlap closer than this. */
const RADIUS_PX = 56

/**
 * The units grouped for a zoom level, by supercluster (a KD-tree over the
 * fleet, built once per answer of the map route): a view asks only for what
 * is in its bounds, so 19,000 units cost a few hundred markers at any zoom.
 */
export class UnitClusters {
  readonly #index: Supercluster<PointProps, ClusterProps>
  readonly size: number

  constructor(units: readonly MapUnit[], opts: { maxZoom?: number; radius?: number } = {}) {
    this.#index = new Supercluster<PointProps, ClusterProps>({
      radius: opts.radius ?? RADIUS_PX,
      // Past this zoom every unit stands alone, even two in one building.
      maxZoom: opts.maxZoom ?? 17,
      map: (p) => ({
        online: p.unit.state === 'online' ? 1 : 0,
        stale: p.unit.state === 'stale' ? 1 : 0,
        offline: p.unit.state === 'offline' ? 1 : 0,
        unknown: p.unit.state === 'unknown' ? 1 : 0,
      }),
      reduce: (acc, p) => {
        acc.online += p.online
        acc.stale += p.stale
        acc.offline += p.offline
        acc.unknown += p.unknown
      },
    })
    this.#index.load(
      units.map((unit) => ({
        type: 'Feature' as const,
        properties: { unit },
        geometry: { type: 'Point' as const, coordinates: [unit.lon, unit.lat] },
      })),
    )
    this.size = units.length
  }

  /** What to draw in a view: west, south, east, north in degrees, and a whole zoom level. */
  within(bbox: [number, number, number, number], zoom: number): MapFeature[] {
    return this.#index.getClusters(bbox, Math.floor(zoom)).map((f): MapFeature => {
      const [lon, lat] = f.geometry.coordinates as [number, number]
      const p = f.properties
      if ('cluster' in p && p.cluster) {
        return {
          kind: 'cluster',
          id: p.cluster_id,
          lat,
          lon,
          count: p.point_count,
          states: { online: p.online, stale: p.stale, offline: p.offline, unknown: p.unknown },
        }
      }
      return { kind: 'unit', unit: (p as PointProps).unit }
    })
  }

  /** The zoom at which a cluster breaks apart: clicking one zooms there. */
  expansionZoom(clusterId: number): number {
    return this.#index.getClusterExpansionZoom(clusterId)
  }
}

/** The cluster's colour goes by its worst news: any offline unit first, then stale, then unknown. */
export function toneOfCounts(s: StateCounts): LiveState {
  if (s.offline > 0) return 'offline'
  if (s.stale > 0) return 'stale'
  if (s.online > 0) return 'online'
  return 'unknown'
}
