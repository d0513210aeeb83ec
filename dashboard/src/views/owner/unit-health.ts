import type { DeviceView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { lastHeartbeatOf } from '../../lib/last-heartbeat.js'

function Row(props: { label: string; value: string; id: string }): JSX.Element {
  return h(
    'div',
    { class: 'owner-fact', 'data-testid': `health-${props.id}` },
    h('dt', null, props.label),
    h('dd', null, props.value),
  )
}

/** What the unit's last heartbeat says: storage, signal, temperature, whether it records. */
export function UnitHealth(props: { device: DeviceView }): JSX.Element {
  const { t, fmt } = useI18n()
  const hb = lastHeartbeatOf(props.device)
  if (!hb) return h('p', { class: 'muted', 'data-testid': 'health-none' }, t('owner.health.none'))
  return h(
    'dl',
    { class: 'owner-facts' },
    h(Row, {
      id: 'storage',
      label: t('owner.health.storage'),
      value: t('owner.health.storageValue', {
        free: fmt.mib(hb.storageFreeMb),
        total: fmt.mib(hb.storageTotalMb),
        pct: fmt.pct(hb.storageFreeMb, hb.storageTotalMb),
      }),
    }),
    h(Row, {
      id: 'signal',
      label: t('owner.health.signal'),
      value: t('owner.health.signalValue', { dbm: fmt.number(hb.signalDbm) }),
    }),
    h(Row, {
      id: 'temperature',
      label: t('owner.health.temperature'),
      value: t('owner.health.temperatureValue', { c: fmt.number(hb.temperatureC) }),
    }),
    h(Row, {
      id: 'recording',
      label: t('owner.health.recording'),
      value: hb.recording ? t('owner.health.yes') : t('owner.health.no'),
    }),
    h(Row, { id: 'uptime', label: t('owner.health.uptime'), value: fmt.duration(hb.uptimeS * 1000) }),
  )
}
