import type { DeviceListResponse, DeviceSecretRotated } from '@doorstep/proto'
import { DeviceId } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { isAbort } from '../../api/http.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ShownOnce } from './shown-once.js'
import { AdminFailed } from './status.js'

type Done =
  | { kind: 'enabled'; id: string; enabled: boolean }
  | { kind: 'rotated'; creds: DeviceSecretRotated }

/** How many matches the finder lists; typing more narrows them. */
const FIND_SHOWN = 8
const FIND_DEBOUNCE_MS = 250

/**
 * Units matching what is typed (`GET /api/v1/devices?q=`: id, serial or address), for picking the one to
 * act on by what is on its label or the installers' sheet rather than by an ID known by heart.
 */
function UnitFinder(props: { text: string; onPick: (id: string) => void }): JSX.Element | null {
  const { api } = useServices()
  const { t } = useI18n()
  const [found, setFound] = useState<DeviceListResponse | null>(null)
  const text = props.text.trim()
  useEffect(() => {
    setFound(null)
    if (text.length < 2) return
    const ctl = new AbortController()
    const timer = setTimeout(() => {
      api.devices({ q: text, limit: FIND_SHOWN }, ctl.signal).then(setFound, (err: unknown) => {
        if (!isAbort(err)) setFound(null)
      })
    }, FIND_DEBOUNCE_MS)
    return () => {
      clearTimeout(timer)
      ctl.abort()
    }
  }, [text])
  if (text.length < 2) return h('p', { class: 'muted small' }, t('admin.units.findHint'))
  if (!found) return null
  // The one typed exactly needs no list.
  if (found.total === 1 && found.devices[0]?.id === text) return null
  return h(
    'div',
    { class: 'unit-finder', 'data-testid': 'unit-finder', 'data-total': found.total },
    h(
      'p',
      { class: 'muted small' },
      t('admin.units.matches', { count: found.total, shown: found.devices.length }),
    ),
    h(
      'ul',
      null,
      found.devices.map((d) =>
        h(
          'li',
          { key: d.id },
          h(
            'button',
            {
              type: 'button',
              class: 'btn small ghost',
              'data-testid': `unit-match-${d.id}`,
              onClick: () => props.onPick(d.id),
            },
            t('admin.units.match', { id: d.id, serial: d.serial, address: d.address, district: d.district }),
            d.enabled ? null : h('span', { class: 'badge' }, ` ${t('admin.units.matchDisabled')}`),
          ),
        ),
      ),
    ),
  )
}

/** Disable, enable or re-key one unit, found by part of its ID, serial or address. */
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
      h(UnitFinder, { text: id, onPick: setId }),
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
