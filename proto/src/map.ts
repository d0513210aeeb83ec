import { z } from 'zod'
import { LiveState } from './http.js'
import { DeviceId, District, EpochMs, Latitude, Longitude } from './ids.js'

/**
 * A raster tile source for the dashboard's map: an XYZ template such as
 * `https://tiles.example/{z}/{x}/{y}.png` (`{s}` for subdomains is allowed).
 * Absent by default: police networks are often offline, and the map draws
 * units and districts on a plain projected background without tiles.
 */
export const MapTiles = z.object({
  url: z.string(),
  /** Shown in the map's corner; most tile providers require it. */
  attribution: z.string(),
  maxZoom: z.number().int().min(1).max(22),
})
export type MapTiles = z.infer<typeof MapTiles>

/** One unit as the map draws it: where it is and its live state, nothing else. */
export const MapUnit = z.object({
  id: DeviceId,
  district: District,
  lat: Latitude,
  lon: Longitude,
  state: LiveState,
})
export type MapUnit = z.infer<typeof MapUnit>

/**
 * `GET /api/v1/map`: every unit's position and live state, and the tile source.
 * Compact on purpose: the whole fleet (19,000 units at most per gateway) in one
 * answer, fetched again when presence changes.
 */
export const MapResponse = z
  .object({
    at: EpochMs,
    tiles: MapTiles.nullable(),
    units: z.array(MapUnit),
  })
  .meta({ id: 'MapResponse' })
export type MapResponse = z.infer<typeof MapResponse>
