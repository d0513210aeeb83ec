import type { PullState } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'

/** What the units table shows of a pull: the fetched pull, or the socket's newer frame over it. */
export interface PullNow {
  id: string
  state: PullState
  bytes: number
  total: number | null
  reason: string | null
}

export function PullCell(props: { pull: PullNow | null }): JSX.Element {
  const { t, fmt } = useI18n()
  const p = props.pull
  if (p === null)
    return h(
      'span',
      { class: 'muted', 'data-testid': 'pull-state', 'data-state': 'none' },
      t('cases.pull.none'),
    )
  const label = t(`cases.pull.${p.state}`)
  if (p.state === 'uploading') {
    const text =
      p.total === null
        ? t('cases.pull.uploadingBytes', { bytes: fmt.bytes(p.bytes) })
        : t('cases.pull.uploadingValue', {
            bytes: fmt.bytes(p.bytes),
            total: fmt.bytes(p.total),
            pct: fmt.pct(p.bytes, p.total),
          })
    return h(
      'div',
      { class: 'pull-progress', 'data-testid': 'pull-state', 'data-state': p.state },
      h('span', { 'data-testid': 'pull-text' }, text),
      p.total === null
        ? h('progress', { 'aria-label': label })
        : h('progress', { value: p.bytes, max: p.total, 'aria-label': label }),
    )
  }
  const text =
    p.reason && (p.state === 'refused' || p.state === 'failed')
      ? t('cases.pull.withReason', { state: label, reason: p.reason })
      : label
  return h(
    'span',
    { class: `pull-state pull-${p.state}`, 'data-testid': 'pull-state', 'data-state': p.state },
    text,
  )
}
