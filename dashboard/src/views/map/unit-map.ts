import 'leaflet/dist/leaflet.css'
import type { MapTiles, MapUnit } from '@doorstep/proto'
import * as L from 'leaflet'
import { h, type JSX } from 'preact'
import { useEffect, useMemo, useRef } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { districtOutlines } from './district-outlines.js'
import { type MapFeature, toneOfCounts, UnitClusters } from './unit-clusters.js'

/** What a picker has chosen, drawn over the units. */
export interface MapSelection {
  circle?: { lat: number; lon: number; radiusM: number } | null
  district?: number | null
  ids?: ReadonlySet<string>
}

export interface UnitMapProps {
  units: readonly MapUnit[]
  tiles: MapTiles | null
  /** The region's accessible name. */
  label: string
  testId: string
  onUnit: (unit: MapUnit) => void
  /** A click on the map itself (not on a unit or a group). */
  onPoint?: (lat: number, lon: number) => void
  /** Set: district outlines take clicks and name their district. */
  onDistrict?: (district: number) => void
  /** Set: district labels link here (the ops map opens a district's units). */
  districtHref?: (district: number) => string
  selection?: MapSelection
}

/** When there is nothing to fit to: the whole world, small. */
const WORLD: L.LatLngTuple = [20, 100]

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}

/** Shows all the units; false when there are none to show. */
function fit(map: L.Map, units: readonly MapUnit[]): boolean {
  if (units.length === 0) return false
  const bounds = L.latLngBounds(units.map((u) => [u.lat, u.lon] as L.LatLngTuple))
  // More room on top: district names sit above their outlines.
  map.fitBounds(bounds, {
    paddingTopLeft: [24, 48],
    paddingBottomRight: [24, 24],
    maxZoom: 16,
    animate: false,
  })
  return true
}

/** A cluster's ring: each state's share of its units, clockwise from the top. */
function ringStyle(f: Extract<MapFeature, { kind: 'cluster' }>): string {
  const s = f.states
  let at = 0
  const stops: string[] = []
  for (const state of ['online', 'stale', 'offline', 'unknown'] as const) {
    const share = (s[state] / f.count) * 100
    if (share === 0) continue
    stops.push(`var(--${state}) ${at}% ${at + share}%`)
    at += share
  }
  return `background: conic-gradient(${stops.join(', ')})`
}

/**
 * The fleet on a Leaflet map. Units are grouped by supercluster for the zoom
 * and only what is in view is drawn, as plain DOM markers (focusable, named
 * for screen readers, clickable in tests like any element). Tiles come from
 * the gateway's configuration; without them the same map draws on a plain
 * background with the districts' outlines, which is what offline police
 * networks get.
 */
export function UnitMap(props: UnitMapProps): JSX.Element {
  const { t, fmt, locale } = useI18n()
  const el = useRef<HTMLDivElement>(null)
  const mapRef = useRef<L.Map | null>(null)
  const layersRef = useRef<{ districts: L.LayerGroup; marks: L.LayerGroup; chosen: L.LayerGroup } | null>(
    null,
  )
  const propsRef = useRef(props)
  propsRef.current = props
  const fitted = useRef(false)

  const clusters = useMemo(
    () => new UnitClusters(props.units, { maxZoom: Math.min(17, (props.tiles?.maxZoom ?? 19) - 1) }),
    [props.units, props.tiles],
  )
  const outlines = useMemo(() => districtOutlines(props.units), [props.units])

  // The map lives as long as the element; the tile source never changes while the page is open.
  useEffect(() => {
    const node = el.current
    if (!node) return
    const tiles = propsRef.current.tiles
    // Leaflet focuses the map on a press (for its arrow-key panning). The page scrolls in <main>,
    // not the window, which Leaflet does not put back: a map half in view would jump under the
    // pointer and the click would land elsewhere.
    const focus = node.focus.bind(node)
    node.focus = (opts?: FocusOptions) => focus({ ...opts, preventScroll: true })
    const map = L.map(node, {
      zoomControl: false,
      attributionControl: false,
      minZoom: 2,
      maxZoom: tiles?.maxZoom ?? 19,
    })
    if (tiles) {
      L.tileLayer(tiles.url, { maxZoom: tiles.maxZoom, attribution: escapeHtml(tiles.attribution) }).addTo(
        map,
      )
      // Only the tile source's credit: the page names no library in its corner.
      L.control.attribution({ prefix: false }).addTo(map)
    }
    const layers = {
      districts: L.layerGroup().addTo(map),
      chosen: L.layerGroup().addTo(map),
      marks: L.layerGroup().addTo(map),
    }
    map.on('click', (e: L.LeafletMouseEvent) => propsRef.current.onPoint?.(e.latlng.lat, e.latlng.lng))
    // Straight to the units' view when they are known, so no tiles are asked for a view never shown.
    if (!fit(map, propsRef.current.units)) map.setView(WORLD, 3)
    fitted.current = propsRef.current.units.length > 0
    mapRef.current = map
    layersRef.current = layers
    return () => {
      map.remove()
      mapRef.current = null
      layersRef.current = null
    }
  }, [])

  // The zoom buttons' names follow the language.
  useEffect(() => {
    const map = mapRef.current
    if (!map) return
    const zoom = L.control.zoom({ zoomInTitle: t('map.zoom.in'), zoomOutTitle: t('map.zoom.out') }).addTo(map)
    return () => {
      zoom.remove()
    }
  }, [locale])

  // Fit to the units once, when they first arrive: later answers (presence moves) keep the reader's view.
  useEffect(() => {
    const map = mapRef.current
    if (!map || fitted.current) return
    fitted.current = fit(map, props.units)
  }, [props.units])

  // District outlines and labels.
  const chosenDistrict = props.selection?.district ?? null
  useEffect(() => {
    const layer = layersRef.current?.districts
    if (!layer) return
    layer.clearLayers()
    const p = propsRef.current
    for (const o of outlines) {
      const chosen = o.district === chosenDistrict
      const title = t('map.district.title', { district: o.district, units: o.units })
      const poly = L.polygon(o.ring, {
        className: `district-outline${chosen ? ' chosen' : ''}`,
        interactive: p.onDistrict !== undefined,
        bubblingMouseEvents: false,
      })
      if (p.onDistrict) {
        poly.on('click', () => propsRef.current.onDistrict?.(o.district))
        poly.bindTooltip(title, { sticky: true })
      }
      poly.addTo(layer)
      const text = escapeHtml(t('map.district.label', { district: o.district }))
      const href = p.districtHref?.(o.district)
      const html = href
        ? `<a href="${escapeHtml(href)}" title="${escapeHtml(title)}" data-testid="map-district-${o.district}">${text}</a>`
        : `<span title="${escapeHtml(title)}" data-testid="map-district-${o.district}">${text}</span>`
      L.marker(o.label, {
        icon: L.divIcon({ className: 'district-label', html, iconSize: undefined }),
        interactive: href !== undefined || p.onDistrict !== undefined,
        keyboard: false,
        zIndexOffset: -1000,
      })
        .on('click', () => propsRef.current.onDistrict?.(o.district))
        .addTo(layer)
    }
  }, [outlines, chosenDistrict, locale, props.onDistrict !== undefined, props.districtHref !== undefined])

  // The circle a picker draws.
  const circle = props.selection?.circle ?? null
  const circleKey = circle ? `${circle.lat},${circle.lon},${circle.radiusM}` : ''
  useEffect(() => {
    const layer = layersRef.current?.chosen
    if (!layer) return
    layer.clearLayers()
    if (!circle) return
    L.circle([circle.lat, circle.lon], {
      radius: circle.radiusM,
      className: 'pick-circle',
      interactive: false,
    }).addTo(layer)
    L.circleMarker([circle.lat, circle.lon], {
      radius: 4,
      className: 'pick-centre',
      interactive: false,
    }).addTo(layer)
  }, [circleKey])

  // Units and groups in view, drawn again on every move and whenever the data or the ticks change.
  const ids = props.selection?.ids
  const idsKey = ids ? [...ids].sort().join(',') : ''
  useEffect(() => {
    const map = mapRef.current
    const layer = layersRef.current?.marks
    if (!map || !layer) return
    const stateName = (s: MapUnit['state']) => t(`fleet.state.${s}`)
    const draw = () => {
      layer.clearLayers()
      const b = map.getBounds()
      const feats = clusters.within([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], map.getZoom())
      for (const f of feats) {
        if (f.kind === 'unit') {
          const u = f.unit
          const ticked = ids?.has(u.id) ?? false
          const title = t('map.unit.title', { id: u.id, district: u.district, state: stateName(u.state) })
          L.marker([u.lat, u.lon], {
            icon: L.divIcon({
              className: 'map-unit-icon',
              iconSize: [18, 18],
              html: `<span class="map-unit state-${u.state}${ticked ? ' ticked' : ''}" data-testid="map-unit-${escapeHtml(u.id)}" data-state="${u.state}" data-ticked="${ticked}"></span>`,
            }),
            title,
            alt: title,
            riseOnHover: true,
          })
            .on('click', () => propsRef.current.onUnit(u))
            .addTo(layer)
          continue
        }
        const size = f.count < 100 ? 34 : f.count < 1000 ? 42 : 50
        const title = t('map.cluster.title', { count: f.count, ...f.states })
        L.marker([f.lat, f.lon], {
          icon: L.divIcon({
            className: 'map-cluster-icon',
            iconSize: [size, size],
            html: `<span class="map-cluster tone-${toneOfCounts(f.states)}" style="${ringStyle(f)}" data-testid="map-cluster" data-count="${f.count}" data-offline="${f.states.offline}"><span>${escapeHtml(fmt.number(f.count))}</span></span>`,
          }),
          title,
          alt: title,
        })
          .on('click', () => {
            map.setView([f.lat, f.lon], Math.min(clusters.expansionZoom(f.id), map.getMaxZoom()))
          })
          .addTo(layer)
      }
      // For tests and for anyone inspecting the page: what is drawn, at which zoom.
      map.getContainer().dataset.drawn = String(feats.length)
      map.getContainer().dataset.zoom = String(map.getZoom())
    }
    draw()
    map.on('moveend', draw)
    return () => {
      map.off('moveend', draw)
    }
  }, [clusters, idsKey, locale])

  return h('div', {
    ref: el,
    class: `unit-map${props.tiles ? '' : ' plain'}`,
    role: 'region',
    'aria-label': props.label,
    'data-testid': props.testId,
    'data-units': props.units.length,
    'data-tiles': props.tiles ? 'on' : 'off',
  })
}
