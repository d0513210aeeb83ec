import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { notifyApi } from '../../api/notify-api.js'
import type { MessageKey } from '../../i18n/catalogue.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { type PushOutcome, pushSupported, subscribeThisBrowser } from '../../live/web-push.js'
import { useServices } from '../../services.js'
import { AdminFailed } from '../admin/status.js'

const SAID: Record<PushOutcome['kind'], MessageKey> = {
  subscribed: 'notify.push.subscribed',
  unsupported: 'notify.push.unsupported',
  insecure: 'notify.push.insecure',
  denied: 'notify.push.denied',
  'no-service': 'notify.push.noService',
}

/** "Notify this browser": Web Push for the push channels, or a plain word on why this browser cannot. */
export function PushButton(): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<PushOutcome | null>(() =>
    pushSupported() ? null : { kind: 'unsupported' },
  )
  const [error, setError] = useState<unknown>(null)

  const go = () => {
    setBusy(true)
    setError(null)
    setOutcome(null)
    subscribeThisBrowser({
      key: () => notifyApi.pushKey(http).then((k) => k.publicKey),
      send: (sub) => notifyApi.subscribe(http, sub),
      workerUrl: new URL('push-sw.js', document.baseURI).href,
    }).then(
      (o) => {
        setBusy(false)
        setOutcome(o)
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  return h(
    'div',
    { class: 'admin-block', 'data-testid': 'push-block' },
    h('p', { class: 'muted' }, t('notify.push.intro')),
    h(
      'button',
      {
        type: 'button',
        class: 'btn primary',
        disabled: busy || outcome?.kind === 'unsupported' || outcome?.kind === 'subscribed',
        onClick: go,
        'data-testid': 'push-subscribe',
      },
      busy ? t('notify.working') : t('notify.push.button'),
    ),
    outcome
      ? h(
          'p',
          {
            role: outcome.kind === 'subscribed' ? 'status' : 'alert',
            class: outcome.kind === 'subscribed' ? 'muted' : 'form-error',
            'data-testid': 'push-outcome',
            'data-outcome': outcome.kind,
          },
          t(SAID[outcome.kind]),
          outcome.kind === 'no-service' ? ` (${outcome.detail})` : '',
        )
      : null,
    error ? h(AdminFailed, { error }) : null,
  )
}
