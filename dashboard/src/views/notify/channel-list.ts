import type { ChannelView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminFailed } from '../admin/status.js'
import { CHANNEL_TYPE_LABEL } from './labels.js'

function ChannelRow(props: { c: ChannelView; onRemoved: () => void }): JSX.Element {
  const { http } = useServices()
  const { t, fmt } = useI18n()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const c = props.c
  const remove = () => {
    if (!window.confirm(t('notify.channel.confirmRemove', { name: c.name }))) return
    setBusy(true)
    setError(null)
    notifyApi.removeChannel(http, c.id).then(
      () => {
        setBusy(false)
        props.onRemoved()
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }
  return h(
    'tr',
    { 'data-testid': `channel-${c.id}` },
    h('td', null, c.name),
    h('td', null, t(CHANNEL_TYPE_LABEL[c.type])),
    // Where it goes, never its secret (the gateway does not send it again anyway).
    h('td', { class: 'admin-details' }, c.url ?? c.to?.join(', ') ?? t('notify.channel.everyBrowser')),
    h('td', null, fmt.dateTime(c.createdAt)),
    h(
      'td',
      null,
      h(
        'button',
        { type: 'button', class: 'btn small', disabled: busy, onClick: remove },
        t('notify.remove'),
      ),
      error ? h(AdminFailed, { error }) : null,
    ),
  )
}

/** Every channel, oldest first, as rules name them. */
export function ChannelList(props: { channels: ChannelView[]; onChange: () => void }): JSX.Element {
  const { t } = useI18n()
  if (props.channels.length === 0) return h('p', { class: 'muted' }, t('notify.channel.none'))
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table', 'data-testid': 'channel-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, t('notify.channel.name')),
          h('th', { scope: 'col' }, t('notify.channel.type')),
          h('th', { scope: 'col' }, t('notify.channel.target')),
          h('th', { scope: 'col' }, t('notify.col.created')),
          h('th', { scope: 'col' }, t('notify.col.actions')),
        ),
      ),
      h(
        'tbody',
        null,
        props.channels.map((c) => h(ChannelRow, { key: c.id, c, onRemoved: props.onChange })),
      ),
    ),
  )
}
