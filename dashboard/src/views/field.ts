import './field.css'
import { type ComponentChildren, h, type JSX } from 'preact'

/**
 * A labelled control with the gateway's complaint about it, if any, right under it; `id` is the control's,
 * so the label names it and a test finds the error as `error-<id>`.
 */
export function Field(props: {
  id: string
  label: string
  error?: string | undefined
  hint?: string
  children?: ComponentChildren
}): JSX.Element {
  const errId = `error-${props.id}`
  return h(
    'div',
    { class: props.error ? 'field invalid' : 'field' },
    h('label', { for: props.id }, props.label),
    props.children,
    props.hint ? h('p', { class: 'field-hint muted small' }, props.hint) : null,
    props.error
      ? h('p', { class: 'field-error', role: 'alert', id: errId, 'data-testid': errId }, props.error)
      : null,
  )
}
