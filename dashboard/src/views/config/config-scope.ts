import { DISTRICT_COUNT } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import type { ConfigScope } from '../../api/config-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { Field } from '../field.js'

/** Which units a change goes to, as typed: the unit's ID or the district are read only for their kind. */
export interface ScopeDraft {
  kind: ConfigScope['kind']
  unit: string
  district: string
}

export function scopeOf(d: ScopeDraft): ConfigScope {
  switch (d.kind) {
    case 'device':
      return { kind: 'device', id: d.unit.trim() }
    case 'district':
      return { kind: 'district', district: Number(d.district) }
    case 'fleet':
      return { kind: 'fleet' }
  }
}

/** The form's first part: one unit, a district or the fleet. The route's refusals (`id`, `district`) show here. */
export function ScopeFields(props: {
  value: ScopeDraft
  onChange: (d: ScopeDraft) => void
  issues: Map<string, string>
}): JSX.Element {
  const { t } = useI18n()
  const d = props.value
  const text = (k: 'unit' | 'district') => (e: Event) =>
    props.onChange({ ...d, [k]: (e.currentTarget as HTMLInputElement).value })
  return h(
    'fieldset',
    { class: 'config-scope' },
    h('legend', null, t('config.form.scope')),
    h(
      Field,
      { id: 'config-scope', label: t('config.form.scopeKind') },
      h(
        'select',
        {
          id: 'config-scope',
          value: d.kind,
          onChange: (e: Event) =>
            props.onChange({
              ...d,
              kind: (e.currentTarget as HTMLSelectElement).value as ScopeDraft['kind'],
            }),
        },
        h('option', { value: 'device' }, t('config.scope.device')),
        h('option', { value: 'district' }, t('config.scope.district')),
        h('option', { value: 'fleet' }, t('config.scope.fleet')),
      ),
    ),
    d.kind === 'device'
      ? h(
          Field,
          { id: 'config-unit', label: t('config.form.unit'), error: props.issues.get('id') },
          h('input', { id: 'config-unit', value: d.unit, required: true, onInput: text('unit') }),
        )
      : null,
    d.kind === 'district'
      ? h(
          Field,
          { id: 'config-district', label: t('config.form.district'), error: props.issues.get('district') },
          h('input', {
            id: 'config-district',
            type: 'number',
            value: d.district,
            onInput: text('district'),
            list: 'config-districts',
          }),
          h(
            'datalist',
            { id: 'config-districts' },
            Array.from({ length: DISTRICT_COUNT }, (_, i) => h('option', { key: i, value: String(i + 1) })),
          ),
        )
      : null,
  )
}
