import type { ConfigChangeResult } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { configApi } from '../../api/config-api.js'
import type { MessageKey } from '../../i18n/catalogue.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminFailed } from '../admin/status.js'
import { Field } from '../field.js'
import { type ScopeDraft, ScopeFields, scopeOf } from './config-scope.js'
import { WindowsField, ZonesField } from './list-fields.js'
import {
  EMPTY_DRAFT,
  FIELDS,
  issuesByPath,
  LISTS,
  listIssues,
  type PatchDraft,
  type PatchField,
  patchOf,
  type TextField,
} from './patch-draft.js'

/** Where the form has a place for a refusal: the change as a whole, the route's parameters, each field. */
const PLACED = new Set<string>(['', 'id', 'district', ...FIELDS])

const RECORDING: readonly (readonly [string, MessageKey])[] = [
  ['always', 'config.value.always'],
  ['motion', 'config.value.motion'],
  ['off', 'config.value.off'],
]
const NIGHT: readonly (readonly [string, MessageKey])[] = [
  ['auto', 'config.value.auto'],
  ['on', 'config.value.on'],
  ['off', 'config.value.off'],
]

const onText = (set: (v: string) => void) => (e: Event) => set((e.currentTarget as HTMLInputElement).value)

/**
 * Sets the desired configuration of one unit, a district or the fleet: only the fields filled in change.
 * The gateway checks every bound and names each field it refuses; the form shows that beside the field.
 */
export function ConfigForm(props: {
  unit: string | null
  onChanged: (r: ConfigChangeResult) => void
}): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [scope, setScope] = useState<ScopeDraft>({
    kind: props.unit === null ? 'district' : 'device',
    unit: props.unit ?? '',
    district: '1',
  })
  const [draft, setDraft] = useState<PatchDraft>(EMPTY_DRAFT)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<ConfigChangeResult | null>(null)

  const issues = issuesByPath(error)
  const set = (k: TextField) => (v: string) => setDraft((d) => ({ ...d, [k]: v }))
  const fieldError = (p: PatchField) => issues.get(p)
  const wholeError = issues.get('')
  // A refusal with no field to show it beside is shown under the form as it came.
  const unplaced =
    error !== null && ![...issues.keys()].some((k) => PLACED.has(k) || LISTS.some((l) => k.startsWith(l)))

  const submit = (e: Event) => {
    e.preventDefault()
    if (scope.kind === 'fleet' && !window.confirm(t('config.form.confirmFleet'))) return
    setBusy(true)
    setError(null)
    setDone(null)
    configApi.change(http, scopeOf(scope), patchOf(draft)).then(
      (r) => {
        setBusy(false)
        setDone(r)
        props.onChanged(r)
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  const numberField = (id: string, k: TextField, path: PatchField, label: string, hint: string) =>
    h(
      Field,
      { id, label, error: fieldError(path), hint },
      h('input', {
        id,
        type: 'number',
        inputMode: 'numeric',
        value: draft[k],
        placeholder: t('config.form.unchanged'),
        'aria-invalid': fieldError(path) ? 'true' : undefined,
        onInput: onText(set(k)),
      }),
    )

  const choiceField = (
    id: string,
    k: TextField,
    path: PatchField,
    label: string,
    options: readonly (readonly [string, MessageKey])[],
  ) =>
    h(
      Field,
      { id, label, error: fieldError(path) },
      h(
        'select',
        { id, value: draft[k], onChange: onText(set(k)) },
        h('option', { value: '' }, t('config.form.unchanged')),
        options.map(([value, key]) => h('option', { key: value, value }, t(key))),
      ),
    )

  return h(
    'form',
    { class: 'config-form', onSubmit: submit, 'data-testid': 'config-form', noValidate: true },
    h(ScopeFields, { value: scope, onChange: setScope, issues }),
    h(
      'fieldset',
      { class: 'config-fields' },
      h('legend', null, t('config.form.fields')),
      numberField(
        'config-heartbeat',
        'heartbeatIntervalS',
        'heartbeatIntervalS',
        t('config.field.heartbeat'),
        t('config.hint.heartbeat'),
      ),
      numberField(
        'config-sensitivity',
        'sensitivity',
        'motion.sensitivity',
        t('config.field.sensitivity'),
        t('config.hint.sensitivity'),
      ),
      choiceField(
        'config-recording',
        'recordingDefault',
        'recording.default',
        t('config.field.recording'),
        RECORDING,
      ),
      numberField('config-clip', 'clipLengthS', 'clipLengthS', t('config.field.clip'), t('config.hint.clip')),
      numberField(
        'config-upload',
        'uploadKbps',
        'uploadKbps',
        t('config.field.upload'),
        t('config.hint.upload'),
      ),
      choiceField('config-night', 'nightMode', 'nightMode', t('config.field.night'), NIGHT),
      h(ZonesField, {
        rows: draft.zones,
        onChange: (zones) => setDraft((d) => ({ ...d, zones })),
        error: listIssues(issues, 'motion.zones'),
      }),
      h(WindowsField, {
        rows: draft.windows,
        onChange: (windows) => setDraft((d) => ({ ...d, windows })),
        error: listIssues(issues, 'recording.windows'),
      }),
    ),
    wholeError
      ? h('p', { class: 'field-error', role: 'alert', 'data-testid': 'error-config-form' }, wholeError)
      : null,
    unplaced ? h(AdminFailed, { error }) : null,
    h(
      'div',
      { class: 'admin-actions' },
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'config-submit' },
        busy ? t('config.form.sending') : t('config.form.submit'),
      ),
      h(
        'button',
        { type: 'button', class: 'btn', onClick: () => setDraft(EMPTY_DRAFT), disabled: busy },
        t('config.form.clear'),
      ),
    ),
    done
      ? h(
          'p',
          { role: 'status', class: 'muted', 'data-testid': 'config-sent' },
          t('config.form.sent', { count: done.changed }),
        )
      : null,
  )
}
