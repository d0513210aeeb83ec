import { h, type JSX } from 'preact'
import type { MessageKey } from '../../i18n/catalogue.js'
import { useI18n } from '../../i18n/use-i18n.js'
import type { WindowDraft, ZoneDraft } from './patch-draft.js'

/**
 * A list the patch replaces whole (motion zones, recording windows): a box to say "replace it", then its
 * rows, each removable, and a button for one more. Unticked, the units keep theirs.
 */
function ListField<T>(props: {
  id: string
  label: string
  replaceLabel: string
  emptyLabel: string
  addLabel: string
  rows: T[] | null
  fresh: () => T
  row: (r: T, set: (r: T) => void, i: number) => JSX.Element[]
  onChange: (rows: T[] | null) => void
  error: string | undefined
}): JSX.Element {
  const { t } = useI18n()
  const rows = props.rows
  return h(
    'fieldset',
    { class: 'config-list', 'data-testid': props.id },
    h('legend', null, props.label),
    h(
      'label',
      { class: 'config-replace' },
      h('input', {
        type: 'checkbox',
        checked: rows !== null,
        onChange: (e: Event) => props.onChange((e.currentTarget as HTMLInputElement).checked ? [] : null),
      }),
      props.replaceLabel,
    ),
    rows === null
      ? null
      : [
          rows.length === 0 ? h('p', { key: 'empty', class: 'muted form-hint' }, props.emptyLabel) : null,
          ...rows.map((r, i) =>
            h(
              'div',
              { key: i, class: 'config-row', role: 'group', 'aria-label': `${props.label} ${i + 1}` },
              props.row(r, (next) => props.onChange(rows.map((old, j) => (j === i ? next : old))), i),
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn small',
                  onClick: () => props.onChange(rows.filter((_, j) => j !== i)),
                },
                t('config.list.remove'),
              ),
            ),
          ),
          h(
            'button',
            {
              key: 'add',
              type: 'button',
              class: 'btn small',
              onClick: () => props.onChange([...rows, props.fresh()]),
              'data-testid': `${props.id}-add`,
            },
            props.addLabel,
          ),
        ],
    props.error
      ? h('p', { class: 'field-error', role: 'alert', 'data-testid': `error-${props.id}` }, props.error)
      : null,
  )
}

function small(label: string, value: string, set: (v: string) => void, type = 'number'): JSX.Element {
  return h(
    'label',
    { class: 'config-cell' },
    h('span', null, label),
    h('input', {
      type,
      step: type === 'number' ? 'any' : undefined,
      value,
      onInput: (e: Event) => set((e.currentTarget as HTMLInputElement).value),
    }),
  )
}

export function ZonesField(props: {
  rows: ZoneDraft[] | null
  onChange: (rows: ZoneDraft[] | null) => void
  error: string | undefined
}): JSX.Element {
  const { t } = useI18n()
  return h(ListField<ZoneDraft>, {
    id: 'config-zones',
    label: t('config.field.zones'),
    replaceLabel: t('config.zones.replace'),
    emptyLabel: t('config.zones.empty'),
    addLabel: t('config.zones.add'),
    rows: props.rows,
    fresh: (): ZoneDraft => ({ x: '0', y: '0', w: '1', h: '1' }),
    row: (z, set) => [
      small(t('config.zones.x'), z.x, (x) => set({ ...z, x })),
      small(t('config.zones.y'), z.y, (y) => set({ ...z, y })),
      small(t('config.zones.w'), z.w, (w) => set({ ...z, w })),
      small(t('config.zones.h'), z.h, (hh) => set({ ...z, h: hh })),
    ],
    onChange: props.onChange,
    error: props.error,
  })
}

const MODES: readonly (readonly [WindowDraft['mode'], MessageKey])[] = [
  ['always', 'config.value.always'],
  ['motion', 'config.value.motion'],
  ['off', 'config.value.off'],
]

export function WindowsField(props: {
  rows: WindowDraft[] | null
  onChange: (rows: WindowDraft[] | null) => void
  error: string | undefined
}): JSX.Element {
  const { t } = useI18n()
  return h(ListField<WindowDraft>, {
    id: 'config-windows',
    label: t('config.field.windows'),
    replaceLabel: t('config.windows.replace'),
    emptyLabel: t('config.windows.empty'),
    addLabel: t('config.windows.add'),
    rows: props.rows,
    fresh: (): WindowDraft => ({ from: '22:00', to: '06:00', mode: 'always' }),
    row: (w, set) => [
      small(t('config.windows.from'), w.from, (from) => set({ ...w, from }), 'time'),
      small(t('config.windows.to'), w.to, (to) => set({ ...w, to }), 'time'),
      h(
        'label',
        { class: 'config-cell' },
        h('span', null, t('config.field.recording')),
        h(
          'select',
          {
            value: w.mode,
            onChange: (e: Event) =>
              set({ ...w, mode: (e.currentTarget as HTMLSelectElement).value as WindowDraft['mode'] }),
          },
          MODES.map(([v, k]) => h('option', { key: v, value: v }, t(k))),
        ),
      ),
    ],
    onChange: props.onChange,
    error: props.error,
  })
}
