import type { ConsentRequest } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'

function Fact(props: { label: string; value: string; id: string }): JSX.Element {
  return h(
    'div',
    { class: 'owner-fact', 'data-testid': `consent-${props.id}` },
    h('dt', null, props.label),
    h('dd', null, props.value),
  )
}

/** The answer form: a note for the investigator, then approve or decline. */
function Decide(props: { request: ConsentRequest; onDecided: () => void }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [note, setNote] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const noteId = `note-${props.request.pullId}`

  const send = (decision: 'approve' | 'decline') => {
    setBusy(true)
    setError(null)
    const text = note.trim()
    api.decideConsent(props.request.pullId, { decision, ...(text ? { note: text } : {}) }).then(
      () => props.onDecided(),
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  return h(
    'div',
    { class: 'owner-decide' },
    h('label', { for: noteId }, t('owner.consent.note')),
    h('textarea', {
      id: noteId,
      rows: 2,
      maxLength: 500,
      value: note,
      placeholder: t('owner.consent.notePlaceholder'),
      disabled: busy,
      'data-testid': 'consent-note-input',
      onInput: (e: Event) => setNote((e.currentTarget as HTMLTextAreaElement).value),
    }),
    error === null
      ? null
      : h(
          'p',
          { class: 'error-box', role: 'alert' },
          t('owner.consent.failed', { message: messageOf(error, t) }),
        ),
    h(
      'div',
      { class: 'owner-actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'btn primary',
          disabled: busy,
          'data-testid': 'consent-approve',
          onClick: () => send('approve'),
        },
        busy ? t('owner.consent.sending') : t('owner.consent.approve'),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          disabled: busy,
          'data-testid': 'consent-decline',
          onClick: () => send('decline'),
        },
        t('owner.consent.decline'),
      ),
    ),
  )
}

/** One request for footage of the owner's unit: which case, which window, which unit, who asked and why. */
export function ConsentCard(props: { request: ConsentRequest; onDecided: () => void }): JSX.Element {
  const { t, fmt } = useI18n()
  const r = props.request
  const waiting = r.state === 'waiting'
  return h(
    'li',
    {
      class: waiting ? 'owner-card consent waiting' : 'owner-card consent',
      'data-testid': `consent-${r.pullId}`,
      'data-state': r.state,
    },
    h(
      'div',
      { class: 'owner-card-head' },
      h(
        'h3',
        { class: 'owner-card-title', 'data-testid': 'consent-case' },
        t('owner.consent.case', { number: r.caseNumber }),
      ),
      r.state === 'waiting'
        ? null
        : h(
            'span',
            { class: `badge consent-${r.state}`, 'data-testid': 'consent-outcome' },
            t(`owner.consent.state.${r.state}`),
          ),
    ),
    h(
      'dl',
      { class: 'owner-facts' },
      h(Fact, {
        id: 'window',
        label: t('owner.consent.window'),
        value: t('owner.consent.windowValue', { from: fmt.dateTime(r.from), to: fmt.dateTime(r.to) }),
      }),
      h(Fact, {
        id: 'unit',
        label: t('owner.consent.unit'),
        value: t('owner.consent.unitValue', { address: r.address, id: r.deviceId }),
      }),
      h(Fact, {
        id: 'asked',
        label: t('owner.consent.askedBy'),
        value: t('owner.consent.askedValue', { who: r.requestedBy, when: fmt.dateTime(r.requestedAt) }),
      }),
      h(Fact, { id: 'reason', label: t('owner.consent.reason'), value: r.reason }),
      !waiting && r.decidedAt !== null
        ? h(Fact, {
            id: 'decided',
            label: t('owner.consent.decidedBy'),
            value: t('owner.consent.decidedValue', {
              who: r.decidedBy ?? '–',
              when: fmt.dateTime(r.decidedAt),
            }),
          })
        : null,
      !waiting && r.note ? h(Fact, { id: 'note', label: t('owner.consent.yourNote'), value: r.note }) : null,
    ),
    waiting ? h(Decide, { request: r, onDecided: props.onDecided }) : null,
  )
}
