import type { DeviceCreateInput, DeviceCredentials, ReleasePolicy } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import type { MessageKey } from '../../i18n/catalogue.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ShownOnce } from './shown-once.js'
import { AdminFailed } from './status.js'

type Field = 'id' | 'serial' | 'district' | 'address' | 'ownerContact' | 'lat' | 'lon' | 'model' | 'firmware'

const FIELDS: {
  name: Field
  label: MessageKey
  required: boolean
  type: 'text' | 'number'
  step?: string
}[] = [
  { name: 'id', label: 'admin.units.id', required: false, type: 'text' },
  { name: 'serial', label: 'admin.units.serial', required: true, type: 'text' },
  { name: 'district', label: 'admin.units.district', required: true, type: 'number', step: '1' },
  { name: 'address', label: 'admin.units.address', required: true, type: 'text' },
  { name: 'ownerContact', label: 'admin.units.ownerContact', required: true, type: 'text' },
  { name: 'lat', label: 'admin.units.lat', required: true, type: 'number', step: 'any' },
  { name: 'lon', label: 'admin.units.lon', required: true, type: 'number', step: 'any' },
  { name: 'model', label: 'admin.units.model', required: false, type: 'text' },
  { name: 'firmware', label: 'admin.units.firmware', required: false, type: 'text' },
]

const POLICIES: { value: ReleasePolicy; label: MessageKey }[] = [
  { value: 'ask', label: 'admin.units.policy.ask' },
  { value: 'always', label: 'admin.units.policy.always' },
  { value: 'never', label: 'admin.units.policy.never' },
]

const EMPTY: Record<Field, string> = {
  id: '',
  serial: '',
  district: '',
  address: '',
  ownerContact: '',
  lat: '',
  lon: '',
  model: '',
  firmware: '',
}

/** The form's text as the route's body: empty optional fields are left for the gateway's defaults. */
function bodyOf(
  v: Record<Field, string>,
  setting: 'urban' | 'rural',
  policy: ReleasePolicy,
): DeviceCreateInput {
  return {
    ...(v.id.trim() ? { id: v.id.trim() } : {}),
    serial: v.serial.trim(),
    district: Number(v.district),
    address: v.address.trim(),
    ownerContact: v.ownerContact.trim(),
    lat: Number(v.lat),
    lon: Number(v.lon),
    ...(v.model.trim() ? { model: v.model.trim() } : {}),
    ...(v.firmware.trim() ? { firmware: v.firmware.trim() } : {}),
    setting,
    releasePolicy: policy,
  }
}

/** Provisions one unit (POST /api/v1/devices); its secret is in that answer only. */
export function ProvisionForm(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [values, setValues] = useState<Record<Field, string>>(EMPTY)
  const [setting, setSetting] = useState<'urban' | 'rural'>('urban')
  const [policy, setPolicy] = useState<ReleasePolicy>('ask')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [creds, setCreds] = useState<DeviceCredentials | null>(null)

  const submit = (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    api.provision(bodyOf(values, setting, policy)).then(
      (c) => {
        setCreds(c)
        setValues(EMPTY)
        setBusy(false)
      },
      (err: unknown) => {
        setError(err)
        setBusy(false)
      },
    )
  }

  return h(
    'div',
    { class: 'admin-block' },
    h('h2', null, t('admin.units.provision')),
    h(
      'form',
      { class: 'admin-form', onSubmit: submit, 'data-testid': 'provision-form' },
      FIELDS.map((f) =>
        h(
          'label',
          { key: f.name },
          h('span', null, t(f.label)),
          h('input', {
            type: f.type,
            step: f.step,
            required: f.required,
            value: values[f.name],
            'data-testid': `provision-${f.name}`,
            onInput: (e: Event) =>
              setValues({ ...values, [f.name]: (e.currentTarget as HTMLInputElement).value }),
          }),
        ),
      ),
      h(
        'label',
        null,
        h('span', null, t('admin.units.setting')),
        h(
          'select',
          {
            value: setting,
            onChange: (e: Event) =>
              setSetting((e.currentTarget as HTMLSelectElement).value === 'rural' ? 'rural' : 'urban'),
          },
          h('option', { value: 'urban' }, t('admin.units.setting.urban')),
          h('option', { value: 'rural' }, t('admin.units.setting.rural')),
        ),
      ),
      h(
        'label',
        null,
        h('span', null, t('admin.units.policy')),
        h(
          'select',
          {
            value: policy,
            onChange: (e: Event) => setPolicy((e.currentTarget as HTMLSelectElement).value as ReleasePolicy),
          },
          POLICIES.map((p) => h('option', { key: p.value, value: p.value }, t(p.label))),
        ),
      ),
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'provision-submit' },
        busy ? t('admin.working') : t('admin.units.submit'),
      ),
    ),
    error ? h(AdminFailed, { error, testid: 'provision-error' }) : null,
    creds
      ? h(ShownOnce, {
          label: t('admin.units.secretOf', { id: creds.id }),
          value: creds.secret,
          testid: 'provisioned-secret',
          onDone: () => setCreds(null),
        })
      : null,
  )
}
