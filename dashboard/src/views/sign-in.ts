import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { messageOf } from '../api/errors.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useStore } from '../lib/store.js'
import { useServices } from '../services.js'
import { EvidenceKeyNote } from './evidence-key.js'
import { LanguageSwitch } from './language-switch.js'

/**
 * Token sign-in. The token is checked against the gateway before it is kept,
 * so a typo is reported here rather than as a broken dashboard.
 */
export function SignIn(): JSX.Element {
  const services = useServices()
  const session = useStore(services.session)
  const { t } = useI18n()
  const [token, setToken] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  const submit = async (e: Event) => {
    e.preventDefault()
    const value = token.trim()
    if (value === '') {
      setError(t('shell.signIn.empty'))
      return
    }
    setBusy(true)
    setError(null)
    try {
      const me = await services.api.checkToken(value)
      setToken('')
      services.signIn(value, me)
    } catch (err) {
      setError(messageOf(err, t))
    } finally {
      setBusy(false)
    }
  }

  const shown = error ?? session.reason
  return h(
    'main',
    { class: 'signin', id: 'main' },
    h(
      'form',
      {
        class: 'signin-card',
        onSubmit: submit,
        'data-testid': 'signin-form',
        'aria-describedby': 'signin-help',
      },
      h(
        'div',
        { class: 'signin-top' },
        h(
          'div',
          { class: 'brand big' },
          h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
          t('shell.brand'),
        ),
        h(LanguageSwitch, {}),
      ),
      h('h1', null, t('shell.signIn.title')),
      h('p', { id: 'signin-help', class: 'muted' }, t('shell.signIn.help')),
      h('label', { for: 'token' }, t('shell.signIn.token')),
      h('input', {
        id: 'token',
        name: 'token',
        type: 'password',
        autocomplete: 'off',
        spellcheck: false,
        required: true,
        value: token,
        onInput: (e: Event) => setToken((e.currentTarget as HTMLInputElement).value),
        'aria-invalid': shown ? 'true' : undefined,
        'data-testid': 'signin-token',
      }),
      shown ? h('p', { class: 'form-error', role: 'alert', 'data-testid': 'signin-error' }, shown) : null,
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'signin-submit' },
        busy ? t('shell.signIn.checking') : t('shell.signIn.submit'),
      ),
      h(EvidenceKeyNote, {}),
    ),
  )
}
