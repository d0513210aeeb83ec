import type { DeviceSecretRotated } from '@doorstep/proto'
import { DeviceId } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ShownOnce } from './shown-once.js'
import { AdminFailed } from './status.js'

type Done =
  | { kind: 'enabled'; id: string; enabled: boolean }
  | { kind: 'rotated'; creds: DeviceSecretRotated }

/** Disable, enable or re-key one unit by its ID; the fleet pages list the units. */
export function UnitControls(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [id, setId] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<Done | null>(null)
  const valid = DeviceId.safeParse(id.trim()).success

  const run = <T>(call: () => Promise<T>, then: (r: T) => Done) => {
    setBusy(true)
    setError(null)
    setDone(null)
    call().then(
      (r) => {
        setBusy(false)
        setDone(then(r))
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }
  const unit = id.trim()
  const setEnabled = (enabled: boolean) =>
    run(
      () => api.setEnabled(unit, enabled),
      (d) => ({ kind: 'enabled', id: d.id, enabled: d.enabled }),
    )
  const rotate = () => {
    if (!window.confirm(t('admin.units.confirmRotate', { id: unit }))) return
    run(
      () => api.rotateSecret(unit),
      (creds) => ({ kind: 'rotated', creds }),
    )
  }
  const button = (label: string, testid: string, onClick: () => void) =>
    h(
      'button',
      { type: 'button', class: 'btn', disabled: busy || !valid, onClick, 'data-testid': testid },
      label,
    )

  return h(
    'div',
    { class: 'admin-block' },
    h('h2', null, t('admin.units.manage')),
    h(
      'div',
      { class: 'admin-form' },
      h(
        'label',
        null,
        h('span', null, t('admin.units.manageId')),
        h('input', {
          value: id,
          spellcheck: false,
          'data-testid': 'manage-id',
          onInput: (e: Event) => setId((e.currentTarget as HTMLInputElement).value),
        }),
      ),
      h(
        'div',
        { class: 'admin-actions' },
        button(t('admin.units.disable'), 'manage-disable', () => setEnabled(false)),
        button(t('admin.units.enable'), 'manage-enable', () => setEnabled(true)),
        button(t('admin.units.rotate'), 'manage-rotate', rotate),
      ),
    ),
    error ? h(AdminFailed, { error, testid: 'manage-error' }) : null,
    done?.kind === 'enabled'
      ? h(
          'p',
          { role: 'status', 'data-testid': 'manage-state', 'data-enabled': String(done.enabled) },
          done.enabled
            ? t('admin.units.isEnabled', { id: done.id })
            : t('admin.units.isDisabled', { id: done.id }),
        )
      : null,
    done?.kind === 'rotated'
      ? h(ShownOnce, {
          label: t('admin.units.newSecret', { id: done.creds.id }),
          value: done.creds.secret,
          testid: 'rotated-secret',
          onDone: () => setDone(null),
        })
      : null,
  )
}
