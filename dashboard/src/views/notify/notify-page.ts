import { OpsTabs } from '../ops-tabs.js'
import './notify.css'
import { h, type JSX } from 'preact'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useStore } from '../../lib/store.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { useLoad } from '../owner/load.js'
import { ChannelForm } from './channel-form.js'
import { ChannelList } from './channel-list.js'
import { DeadLetters } from './dead-letters.js'
import { PushButton } from './push-button.js'
import { RuleForm } from './rule-form.js'
import { RuleList } from './rule-list.js'

/** Channels and rules: the admins' part of the page (the gateway allows those routes to admins only). */
function RulesAndChannels(): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [channels, reloadChannels] = useLoad((s) => notifyApi.channels(http, s), [])
  const [rules, reloadRules] = useLoad((s) => notifyApi.rules(http, s), [])
  const list = channels.kind === 'ok' ? channels.data.channels : []
  return h(
    'div',
    null,
    h('h2', null, t('notify.channel.heading')),
    h('p', { class: 'muted' }, t('notify.channel.intro')),
    h(ChannelForm, { onAdded: reloadChannels }),
    channels.kind === 'loading'
      ? h(AdminLoading, {})
      : channels.kind === 'error'
        ? h(AdminError, { error: channels.error, retry: reloadChannels })
        : h(ChannelList, { channels: list, onChange: reloadChannels }),
    h('h2', null, t('notify.rule.heading')),
    h('p', { class: 'muted' }, t('notify.rule.intro')),
    h(RuleForm, { channels: list, onAdded: reloadRules }),
    rules.kind === 'loading'
      ? h(AdminLoading, {})
      : rules.kind === 'error'
        ? h(AdminError, { error: rules.error, retry: reloadRules })
        : h(RuleList, { rules: rules.data.rules, channels: list, onChange: reloadRules }),
    h(DeadLetters, {}),
  )
}

/**
 * #/notify: every member of staff may have this browser notified; admins also keep the channels and
 * rules, read what each rule sent, and the dead letters.
 */
export function NotifyPage(): JSX.Element {
  const { t } = useI18n()
  const role = useStore(useServices().session).me?.role
  return h(
    'section',
    { class: 'panel admin-page notify-page', 'data-testid': 'notify-page' },
    h('h1', { tabIndex: -1 }, t('notify.title')),
    role === 'admin' || role === 'ops' ? h(OpsTabs, { current: 'notify' }) : null,
    h('h2', null, t('notify.push.heading')),
    h(PushButton, {}),
    role === 'admin' ? h(RulesAndChannels, {}) : h('p', { class: 'muted' }, t('notify.adminsOnly')),
  )
}
