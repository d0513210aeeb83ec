import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import type { UnitMapProps } from './unit-map.js'

type UnitMapComponent = (props: UnitMapProps) => JSX.Element

let mapModule: Promise<UnitMapComponent> | null = null

/**
 * The map with Leaflet loaded on first use: a homeowner on a phone never
 * downloads it, and the fleet pages start as fast as before.
 */
export function LazyUnitMap(props: UnitMapProps): JSX.Element {
  const { t } = useI18n()
  const [Loaded, setLoaded] = useState<UnitMapComponent | null>(null)
  const [failed, setFailed] = useState(false)
  useEffect(() => {
    let live = true
    mapModule ??= import('./unit-map.js').then((m) => m.UnitMap)
    mapModule.then(
      (c) => {
        if (live) setLoaded(() => c)
      },
      () => {
        mapModule = null
        if (live) setFailed(true)
      },
    )
    return () => {
      live = false
    }
  }, [])
  if (Loaded) return h(Loaded, props)
  return h(
    'div',
    { class: 'unit-map waiting', 'data-testid': `${props.testId}-waiting` },
    h(
      'p',
      { class: failed ? 'error-box' : 'muted', role: failed ? 'alert' : undefined },
      t(failed ? 'map.loadFailed' : 'map.loading'),
    ),
  )
}
