import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'

/** An admin records the court or prosecutor's order that releases a refused pull's footage. */
export function LegalOrderForm(props: { pullId: string; onDone: () => void }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [open, setOpen] = useState(false)
  const [order, setOrder] = useState('')
  const [note, setNote] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  if (!open)
    return h(
      'button',
      { type: 'button', class: 'btn small', onClick: () => setOpen(true), 'data-testid': 'legal-open' },
      t('cases.legal.button'),
    )
  const id = `legal-${props.pullId}`
  const submit = (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const n = note.trim()
    api.legalOrder(props.pullId, { orderNumber: order, ...(n ? { note: n } : {}) }).then(
      () => {
        setBusy(false)
        setOpen(false)
        props.onDone()
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }
  return h(
    'form',
    { class: 'legal-order', onSubmit: submit },
    h('label', { for: `${id}-n` }, t('cases.legal.number')),
    h('input', {
      id: `${id}-n`,
      value: order,
      required: true,
      maxLength: 100,
      onInput: (e: Event) => setOrder((e.currentTarget as HTMLInputElement).value),
    }),
    h('label', { for: `${id}-note` }, t('cases.legal.note')),
    h('input', {
      id: `${id}-note`,
      value: note,
      maxLength: 500,
      onInput: (e: Event) => setNote((e.currentTarget as HTMLInputElement).value),
    }),
    error === null
      ? null
      : h(
          'p',
          { class: 'error-box', role: 'alert' },
          t('cases.action.failed', { message: messageOf(error, t) }),
        ),
    h('button', { type: 'submit', class: 'btn small primary', disabled: busy }, t('cases.legal.submit')),
    h(
      'button',
      { type: 'button', class: 'btn small', onClick: () => setOpen(false) },
      t('cases.legal.cancel'),
    ),
  )
}
