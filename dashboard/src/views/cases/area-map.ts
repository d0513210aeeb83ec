import type { CaseArea, MapUnit } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { ErrorMessage, Loading } from '../feedback.js'
import { LazyUnitMap } from '../map/lazy-map.js'
import { useMapData } from '../map/map-data.js'
import type { MapSelection } from '../map/unit-map.js'

/** The part of the case form the map reads and writes; numbers stay text, as the inputs hold them. */
export interface AreaDraft {
  kind: CaseArea['kind']
  district: string
  lat: string
  lon: string
  radiusM: string
  ids: string
}

/** About 10 cm: enough for a doorstep, short enough to read. */
const COORD_DIGITS = 6

export function idsOf(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '')
}

/**
 * Picks the case area on the map: a click sets the circle's centre, picks a
 * district, or ticks a unit, depending on the kind of area chosen above it.
 * Everything it sets is also in the form's fields, which stay the source of
 * truth (and the way to type an area without a mouse).
 */
export function AreaMap(props: {
  draft: AreaDraft
  onChange: (patch: Partial<AreaDraft>) => void
}): JSX.Element {
  const { t } = useI18n()
  const data = useMapData()
  const d = props.draft
  const ids = useMemo(() => new Set(idsOf(d.ids)), [d.ids])

  const selection: MapSelection = {}
  const lat = Number(d.lat)
  const lon = Number(d.lon)
  const radiusM = Number(d.radiusM)
  if (d.kind === 'radius' && d.lat !== '' && d.lon !== '' && Number.isFinite(lat) && Number.isFinite(lon))
    selection.circle = { lat, lon, radiusM: Number.isFinite(radiusM) && radiusM > 0 ? radiusM : 0 }
  if (d.kind === 'district') selection.district = Number(d.district)
  if (d.kind === 'devices') selection.ids = ids

  const setPoint = (la: number, lo: number) =>
    props.onChange({ lat: la.toFixed(COORD_DIGITS), lon: lo.toFixed(COORD_DIGITS) })
  const onUnit = (u: MapUnit) => {
    if (d.kind === 'radius') setPoint(u.lat, u.lon)
    else if (d.kind === 'district') props.onChange({ district: String(u.district) })
    else {
      const next = ids.has(u.id) ? [...ids].filter((x) => x !== u.id) : [...ids, u.id]
      props.onChange({ ids: next.join(', ') })
    }
  }

  const hint = h('p', { class: 'muted', 'data-testid': 'case-map-hint' }, t(`map.pick.${d.kind}`))
  const ticked =
    d.kind === 'devices'
      ? h(
          'p',
          { class: 'case-map-ticked' },
          h(
            'span',
            { 'data-testid': 'case-map-ticked', 'data-count': ids.size },
            t('map.pick.ticked', { count: ids.size }),
          ),
          ids.size > 0
            ? h(
                'button',
                { type: 'button', class: 'btn small', onClick: () => props.onChange({ ids: '' }) },
                t('map.pick.clear'),
              )
            : null,
        )
      : null
  let body: JSX.Element
  if (data.data) {
    body = h(LazyUnitMap, {
      units: data.data.units,
      tiles: data.data.tiles,
      label: t('map.pick.region'),
      testId: 'case-map',
      onUnit,
      ...(d.kind === 'radius' ? { onPoint: setPoint } : {}),
      ...(d.kind === 'district'
        ? { onDistrict: (n: number) => props.onChange({ district: String(n) }) }
        : {}),
      selection,
    })
  } else if (data.error) body = h(ErrorMessage, { error: data.error, retry: data.reload })
  else body = h(Loading, { label: t('map.loading') })
  return h('div', { class: 'case-map' }, hint, body, ticked)
}
