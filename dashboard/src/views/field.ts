import { type ComponentChildren, h, type JSX } from 'preact'

/** A form field: its label, its control, and the gateway's word on it (a refused value) under it. */
export function Field(props: {
  id: string
  label: string
  error: string | undefined
  hint?: string
  children?: ComponentChildren
}): JSX.Element {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: props.id }, props.label),
    props.children,
    props.hint ? h('p', { class: 'field-hint muted small' }, props.hint) : null,
    props.error
      ? h('p', { class: 'field-error', role: 'alert', 'data-testid': `error-${props.id}` }, props.error)
      : null,
  )
}
