import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'

/** Hex digits shown of a sha256: enough to tell images apart at a glance; the whole is copied. */
const SHOWN = 12

/** A sha256 or key fingerprint, shortened, with the whole in its title and a button to copy it. */
export function Digest(props: { value: string; label: string; testid: string }): JSX.Element {
  const { t } = useI18n()
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle')
  const onCopy = () => {
    navigator.clipboard.writeText(props.value).then(
      () => setCopy('copied'),
      () => setCopy('failed'),
    )
  }
  return h(
    'span',
    { class: 'fw-digest' },
    h('code', { title: props.value, 'data-testid': props.testid }, `${props.value.slice(0, SHOWN)}…`),
    h(
      'button',
      {
        type: 'button',
        class: 'btn small ghost',
        onClick: onCopy,
        'aria-label': t('firmware.copyLabel', { what: props.label }),
      },
      copy === 'copied'
        ? t('firmware.copied')
        : copy === 'failed'
          ? t('firmware.copyFailed')
          : t('firmware.copy'),
    ),
  )
}
