import { h, type JSX } from 'preact'

/**
 * A column heading that a phone's narrow column shows abbreviated. The long
 * form stays for screen readers (visually hidden there, not removed), so
 * the column's name is read in full at every width.
 */
export function ShortLabel(props: { long: string; short: string }): JSX.Element {
  return h(
    'span',
    null,
    h('span', { class: 'label-long' }, props.long),
    h('span', { class: 'label-short', 'aria-hidden': 'true' }, props.short),
  )
}
