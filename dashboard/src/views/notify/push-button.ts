import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError } from '../../api/errors.js'
import { notifyApi } from '../../api/notify-api.js'
import type { MessageKey } from '../../i18n/catalogue.js'
import { useI18n } from '../../i18n/use-i18n.js'
import {
  isSubscribed,
  type PushOutcome,
  pushSupported,
  subscribeThisBrowser,
  unsubscribeThisBrowser,
} from '../../live/web-push.js'
import { useServices } from '../../services.js'
import { AdminFailed } from '../admin/status.js'

/** What the block says: how subscribing went, or that this browser was taken off again. */
type Said = PushOutcome | { kind: 'stopped' }

const SAID: Record<Said['kind'], MessageKey> = {
  subscribed: 'notify.push.subscribed',
  unsupported: 'notify.push.unsupported',
  insecure: 'notify.push.insecure',
  denied: 'notify.push.denied',
  'no-service': 'notify.push.noService',
  stopped: 'notify.push.stopped',
}

/** Said before any click: a page that cannot subscribe says so at once. */
function atStart(): Said | null {
  if (!window.isSecureContext) return { kind: 'insecure' }
  return pushSupported() ? null : { kind: 'unsupported' }
}

const workerUrl = () => new URL('push-sw.js', document.baseURI).href

/** "Notify this browser": Web Push for the push channels, or a plain word on why this browser cannot. */
export function PushButton(): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [busy, setBusy] = useState(false)
  const [said, setSaid] = useState<Said | null>(atStart)
  const [error, setError] = useState<unknown>(null)

  useEffect(() => {
    if (said !== null) return
    let live = true
    isSubscribed(workerUrl()).then(
      (on) => {
        if (live && on) setSaid({ kind: 'subscribed' })
      },
      () => undefined,
    )
    return () => {
      live = false
    }
  }, [])

  const run = (work: () => Promise<Said>) => {
    setBusy(true)
    setError(null)
    work().then(
      (s) => {
        setBusy(false)
        setSaid(s)
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  const subscribe = () =>
    run(() =>
      subscribeThisBrowser({
        key: () => notifyApi.pushKey(http).then((k) => k.publicKey),
        send: (sub) => notifyApi.subscribe(http, sub),
        workerUrl: workerUrl(),
      }),
    )

  const stop = () =>
    run(() =>
      unsubscribeThisBrowser({
        // Gone at the gateway already (a token revoked and issued again, say): nothing left to remove.
        remove: (id) =>
          notifyApi.unsubscribe(http, id).catch((err: unknown) => {
            if (!(err instanceof ApiError && err.status === 404)) throw err
          }),
        workerUrl: workerUrl(),
      }).then((): Said => ({ kind: 'stopped' })),
    )

  const on = said?.kind === 'subscribed'
  const cannot = said?.kind === 'unsupported' || said?.kind === 'insecure'
  return h(
    'div',
    { class: 'admin-block', 'data-testid': 'push-block' },
    h('p', { class: 'muted' }, t('notify.push.intro')),
    on
      ? h(
          'button',
          { type: 'button', class: 'btn', disabled: busy, onClick: stop, 'data-testid': 'push-stop' },
          busy ? t('notify.working') : t('notify.push.stop'),
        )
      : h(
          'button',
          {
            type: 'button',
            class: 'btn primary',
            disabled: busy || cannot,
            onClick: subscribe,
            'data-testid': 'push-subscribe',
          },
          busy ? t('notify.working') : t('notify.push.button'),
        ),
    said
      ? h(
          'p',
          {
            role: on || said.kind === 'stopped' ? 'status' : 'alert',
            class: on || said.kind === 'stopped' ? 'muted' : 'form-error',
            'data-testid': 'push-outcome',
            'data-outcome': said.kind,
          },
          t(SAID[said.kind]),
          said.kind === 'no-service' ? ` (${said.detail})` : '',
        )
      : null,
    error ? h(AdminFailed, { error }) : null,
  )
}
