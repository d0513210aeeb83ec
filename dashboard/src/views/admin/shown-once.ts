import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'

/**
 * A token or a unit's secret, which the gateway hands out in one answer only and keeps as a digest: shown
 * read-only with a Copy button until the admin says done, and never kept anywhere else in the page.
 */
export function ShownOnce(props: {
  label: string
  value: string
  testid: string
  onDone: () => void
}): JSX.Element {
  const { t } = useI18n()
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle')
  const onCopy = () => {
    navigator.clipboard.writeText(props.value).then(
      () => setCopy('copied'),
      () => setCopy('failed'),
    )
  }
  const id = `${props.testid}-value`
  return h(
    'div',
    { class: 'admin-once', 'data-testid': props.testid },
    h('label', { for: id }, props.label),
    h(
      'div',
      { class: 'admin-once-row' },
      h('input', {
        id,
        type: 'text',
        readOnly: true,
        value: props.value,
        spellcheck: false,
        autoComplete: 'off',
        'data-testid': `${props.testid}-value`,
        onFocus: (e: Event) => (e.currentTarget as HTMLInputElement).select(),
      }),
      h(
        'button',
        { type: 'button', class: 'btn primary', onClick: onCopy, 'data-testid': `${props.testid}-copy` },
        t('admin.once.copy'),
      ),
      h('button', { type: 'button', class: 'btn', onClick: props.onDone }, t('admin.once.done')),
    ),
    h(
      'p',
      { role: 'status', 'data-testid': `${props.testid}-copied`, class: 'muted' },
      copy === 'copied' ? t('admin.once.copied') : copy === 'failed' ? t('admin.once.copyFailed') : '',
    ),
    h('p', { class: 'admin-warning', role: 'note' }, t('admin.once.warning')),
  )
}
