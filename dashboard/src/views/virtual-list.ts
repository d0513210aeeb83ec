import { type ComponentChildren, h, type JSX } from 'preact'
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'

export interface VirtualListProps<T> {
  items: readonly T[]
  /** Every row has this height, px: it is what makes the window arithmetic exact. */
  rowHeight: number
  /** Rows rendered above and below the visible window, so fast scrolling shows no blank. */
  overscan?: number
  renderRow: (item: T, index: number) => JSX.Element
  rowKey: (item: T) => string | number
  /** Header row (columns), rendered outside the scroller so it stays in view. */
  header?: ComponentChildren
  label: string
  /** Class of each row element (the grid template of its cells). */
  rowClass?: string
  testId?: string
  empty?: ComponentChildren
}

/**
 * A list that renders only the rows in view. With all 2,896 units in it the
 * DOM holds a few dozen rows, so scrolling stays smooth and a refresh costs
 * the same as for one district. Rows are absolutely placed inside a spacer of
 * the full height, so the scrollbar is honest. ARIA table semantics carry
 * the real row count and each row's index, which screen readers announce.
 */
export function VirtualList<T>(props: VirtualListProps<T>): JSX.Element {
  const { items, rowHeight, overscan = 8 } = props
  const scroller = useRef<HTMLDivElement>(null)
  const [view, setView] = useState({ top: 0, height: 600 })

  useLayoutEffect(() => {
    const el = scroller.current
    if (!el) return
    setView({ top: el.scrollTop, height: el.clientHeight })
    const ro = new ResizeObserver(() => setView({ top: el.scrollTop, height: el.clientHeight }))
    ro.observe(el)
    return () => ro.disconnect()
  }, [])

  // Coalesce scroll events to one render per frame.
  const frame = useRef<number | null>(null)
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current)
    },
    [],
  )
  const onScroll = () => {
    if (frame.current !== null) return
    frame.current = requestAnimationFrame(() => {
      frame.current = null
      const el = scroller.current
      if (el) setView({ top: el.scrollTop, height: el.clientHeight })
    })
  }

  const first = Math.max(0, Math.floor(view.top / rowHeight) - overscan)
  const last = Math.min(items.length, Math.ceil((view.top + view.height) / rowHeight) + overscan)
  const rows: JSX.Element[] = []
  for (let i = first; i < last; i++) {
    const item = items[i] as T
    rows.push(
      h(
        'div',
        {
          key: props.rowKey(item),
          role: 'row',
          'aria-rowindex': i + 2,
          class: `vrow ${props.rowClass ?? ''}`,
          style: { transform: `translateY(${i * rowHeight}px)`, height: `${rowHeight}px` },
        },
        props.renderRow(item, i),
      ),
    )
  }

  return h(
    'div',
    {
      class: 'vlist',
      role: 'table',
      'aria-label': props.label,
      'aria-rowcount': items.length + 1,
      'data-testid': props.testId,
      'data-count': items.length,
    },
    props.header ? h('div', { role: 'rowgroup', class: 'vlist-head' }, props.header) : null,
    h(
      'div',
      { class: 'vlist-scroller', ref: scroller, onScroll, role: 'rowgroup' },
      items.length === 0 && props.empty
        ? h('div', { class: 'vlist-empty' }, props.empty)
        : h('div', { class: 'vlist-spacer', style: { height: `${items.length * rowHeight}px` } }, rows),
    ),
  )
}
