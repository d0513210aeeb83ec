import type { ChannelView, NotifyKind } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminFailed } from '../admin/status.js'
import { fieldErrors } from '../cases/field-errors.js'
import { Field } from '../field.js'
import { CHANNEL_TYPE_LABEL, KIND_LABEL, KIND_LIST } from './labels.js'
import { emptyRule, type RuleDraft, ruleBodyOf, type SeverityChoice } from './rule-draft.js'

const PLACED = ['name', 'kind', 'district', 'severity', 'offlineMinutes', 'windowS', 'quietHours', 'channels']

/** Quiet hours are read in this zone unless another is typed: the reader's own, most likely the city's. */
const HERE = Intl.DateTimeFormat().resolvedOptions().timeZone

/** Adds a rule: what to watch for, where, how loud, and which channels hear of it. */
export function RuleForm(props: { channels: ChannelView[]; onAdded: () => void }): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [d, setD] = useState<RuleDraft>(() => emptyRule(HERE))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const errors = fieldErrors(error)
  const set =
    <K extends keyof RuleDraft>(k: K) =>
    (v: RuleDraft[K]) =>
      setD((old) => ({ ...old, [k]: v }))
  const text =
    (k: 'name' | 'district' | 'offlineMinutes' | 'windowMinutes' | 'quietStart' | 'quietEnd' | 'quietZone') =>
    (e: Event) =>
      set(k)((e.currentTarget as HTMLInputElement).value)
  const toggle = (id: string, on: boolean) =>
    setD((old) => ({ ...old, channels: on ? [...old.channels, id] : old.channels.filter((c) => c !== id) }))

  const submit = (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    notifyApi.addRule(http, ruleBodyOf(d)).then(
      () => {
        setBusy(false)
        setD(emptyRule(HERE))
        props.onAdded()
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  return h(
    'form',
    { class: 'admin-form notify-form', onSubmit: submit, noValidate: true, 'data-testid': 'rule-form' },
    h(
      Field,
      { id: 'rule-name', label: t('notify.rule.name'), error: errors.name },
      h('input', { id: 'rule-name', value: d.name, maxLength: 100, onInput: text('name') }),
    ),
    h(
      Field,
      { id: 'rule-kind', label: t('notify.rule.kind'), error: errors.kind },
      h(
        'select',
        {
          id: 'rule-kind',
          value: d.kind,
          onChange: (e: Event) => set('kind')((e.currentTarget as HTMLSelectElement).value as NotifyKind),
        },
        KIND_LIST.map((k) => h('option', { key: k, value: k }, t(KIND_LABEL[k]))),
      ),
    ),
    h(
      Field,
      {
        id: 'rule-district',
        label: t('notify.rule.district'),
        error: errors.district,
        hint: t('notify.rule.districtHint'),
      },
      h('input', { id: 'rule-district', type: 'number', value: d.district, onInput: text('district') }),
    ),
    h(
      Field,
      { id: 'rule-severity', label: t('notify.rule.severity'), error: errors.severity },
      h(
        'select',
        {
          id: 'rule-severity',
          value: d.severity,
          onChange: (e: Event) =>
            set('severity')((e.currentTarget as HTMLSelectElement).value as SeverityChoice),
        },
        h('option', { value: '' }, t('notify.rule.severityDefault')),
        h('option', { value: 'info' }, t('events.severity.info')),
        h('option', { value: 'warning' }, t('events.severity.warning')),
        h('option', { value: 'critical' }, t('events.severity.critical')),
      ),
    ),
    d.kind === 'offline'
      ? h(
          Field,
          { id: 'rule-offline', label: t('notify.rule.offlineMinutes'), error: errors.offlineMinutes },
          h('input', {
            id: 'rule-offline',
            type: 'number',
            step: 'any',
            value: d.offlineMinutes,
            onInput: text('offlineMinutes'),
          }),
        )
      : null,
    h(
      Field,
      {
        id: 'rule-window',
        label: t('notify.rule.windowMinutes'),
        error: errors.windowS,
        hint: t('notify.rule.windowHint'),
      },
      h('input', {
        id: 'rule-window',
        type: 'number',
        step: 'any',
        value: d.windowMinutes,
        onInput: text('windowMinutes'),
      }),
    ),
    h(
      'fieldset',
      { class: 'notify-quiet', 'data-testid': 'rule-quiet' },
      h('legend', null, t('notify.rule.quiet')),
      h(
        Field,
        { id: 'rule-quiet-start', label: t('notify.rule.quietStart') },
        h('input', {
          id: 'rule-quiet-start',
          type: 'time',
          value: d.quietStart,
          onInput: text('quietStart'),
        }),
      ),
      h(
        Field,
        { id: 'rule-quiet-end', label: t('notify.rule.quietEnd') },
        h('input', { id: 'rule-quiet-end', type: 'time', value: d.quietEnd, onInput: text('quietEnd') }),
      ),
      h(
        Field,
        { id: 'rule-quiet-zone', label: t('notify.rule.quietZone') },
        h('input', {
          id: 'rule-quiet-zone',
          value: d.quietZone,
          onInput: text('quietZone'),
          spellcheck: false,
        }),
      ),
      h('p', { class: 'muted form-hint' }, t('notify.rule.quietHint')),
      errors.quietHours
        ? h(
            'p',
            { class: 'field-error', role: 'alert', 'data-testid': 'error-rule-quiet' },
            errors.quietHours,
          )
        : null,
    ),
    h(
      'fieldset',
      { class: 'notify-channels', 'data-testid': 'rule-channels' },
      h('legend', null, t('notify.rule.channels')),
      props.channels.length === 0
        ? h('p', { class: 'muted' }, t('notify.rule.noChannels'))
        : props.channels.map((c) =>
            h(
              'label',
              { key: c.id, class: 'notify-check' },
              h('input', {
                type: 'checkbox',
                checked: d.channels.includes(c.id),
                onChange: (e: Event) => toggle(c.id, (e.currentTarget as HTMLInputElement).checked),
              }),
              `${c.name} (${t(CHANNEL_TYPE_LABEL[c.type])})`,
            ),
          ),
      errors.channels
        ? h(
            'p',
            { class: 'field-error', role: 'alert', 'data-testid': 'error-rule-channels' },
            errors.channels,
          )
        : null,
    ),
    h(
      'button',
      { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'rule-submit' },
      busy ? t('notify.working') : t('notify.rule.add'),
    ),
    error !== null && !Object.keys(errors).some((k) => PLACED.includes(k)) ? h(AdminFailed, { error }) : null,
  )
}
