import type { ChannelCreate, ChannelCreated, ChannelType } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ShownOnce } from '../admin/shown-once.js'
import { AdminFailed } from '../admin/status.js'
import { fieldErrors } from '../cases/field-errors.js'
import { Field } from '../field.js'
import { CHANNEL_TYPE_LABEL } from './labels.js'

function bodyOf(type: ChannelType, name: string, url: string, to: string): ChannelCreate {
  switch (type) {
    case 'webhook':
      return { type, name, url: url.trim() }
    case 'email':
      return {
        type,
        name,
        to: to
          .split(/[\s,;]+/)
          .map((s) => s.trim())
          .filter(Boolean),
      }
    case 'push':
      return { type, name }
  }
}

const onText = (set: (v: string) => void) => (e: Event) => set((e.currentTarget as HTMLInputElement).value)

/** Adds a channel. A webhook's signing secret comes back in this answer only: shown once, then gone. */
export function ChannelForm(props: { onAdded: () => void }): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [type, setType] = useState<ChannelType>('webhook')
  const [name, setName] = useState('')
  const [url, setUrl] = useState('')
  const [to, setTo] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [created, setCreated] = useState<ChannelCreated | null>(null)
  const errors = fieldErrors(error)
  const placed = ['name', 'url', 'to']

  const submit = (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setCreated(null)
    notifyApi.addChannel(http, bodyOf(type, name, url, to)).then(
      (c) => {
        setBusy(false)
        setName('')
        setUrl('')
        setTo('')
        // Only a webhook has a secret; the others need no reminder.
        setCreated(c.secret === null ? null : c)
        props.onAdded()
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  return h(
    'div',
    { class: 'admin-block' },
    h(
      'form',
      { class: 'admin-form notify-form', onSubmit: submit, noValidate: true, 'data-testid': 'channel-form' },
      h(
        Field,
        { id: 'channel-type', label: t('notify.channel.type') },
        h(
          'select',
          {
            id: 'channel-type',
            value: type,
            onChange: (e: Event) => setType((e.currentTarget as HTMLSelectElement).value as ChannelType),
          },
          (['webhook', 'email', 'push'] as const).map((c) =>
            h('option', { key: c, value: c }, t(CHANNEL_TYPE_LABEL[c])),
          ),
        ),
      ),
      h(
        Field,
        { id: 'channel-name', label: t('notify.channel.name'), error: errors.name },
        h('input', { id: 'channel-name', value: name, maxLength: 100, onInput: onText(setName) }),
      ),
      type === 'webhook'
        ? h(
            Field,
            { id: 'channel-url', label: t('notify.channel.url'), error: errors.url },
            h('input', {
              id: 'channel-url',
              type: 'url',
              value: url,
              onInput: onText(setUrl),
              spellcheck: false,
            }),
          )
        : null,
      type === 'email'
        ? h(
            Field,
            {
              id: 'channel-to',
              label: t('notify.channel.to'),
              error: errors.to,
              hint: t('notify.channel.toHint'),
            },
            h('input', { id: 'channel-to', value: to, onInput: onText(setTo), spellcheck: false }),
          )
        : null,
      type === 'push' ? h('p', { class: 'muted' }, t('notify.channel.pushHint')) : null,
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'channel-submit' },
        busy ? t('notify.working') : t('notify.channel.add'),
      ),
      error !== null && !Object.keys(errors).some((k) => placed.includes(k))
        ? h(AdminFailed, { error })
        : null,
    ),
    created
      ? h(ShownOnce, {
          label: t('notify.channel.secret', { name: created.name }),
          value: created.secret ?? '',
          testid: 'channel-secret',
          onDone: () => setCreated(null),
        })
      : null,
  )
}
