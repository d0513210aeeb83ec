import { type CaseArea, type CasePreview, DISTRICT_COUNT } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { messageOf } from '../../api/errors.js'
import { isAbort } from '../../api/http.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { Field } from '../field.js'
import { AreaMap, idsOf } from './area-map.js'
import { fieldErrors } from './field-errors.js'

type AreaKind = CaseArea['kind']

interface Draft {
  number: string
  reason: string
  from: string
  to: string
  kind: AreaKind
  district: string
  lat: string
  lon: string
  radiusM: string
  ids: string
}

/** Waits this long after the last keystroke before asking for a preview. */
const PREVIEW_DEBOUNCE_MS = 300

/** `datetime-local` values are the reader's local time; `new Date()` reads them so. */
function localMs(v: string): number | null {
  if (!v) return null
  const ms = new Date(v).getTime()
  return Number.isFinite(ms) ? ms : null
}

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000)
  return d.toISOString().slice(0, 16)
}

function areaOf(d: Draft): CaseArea | null {
  switch (d.kind) {
    case 'district':
      return { kind: 'district', district: Number(d.district) }
    case 'radius':
      if (d.lat === '' || d.lon === '' || d.radiusM === '') return null
      return { kind: 'radius', lat: Number(d.lat), lon: Number(d.lon), radiusM: Number(d.radiusM) }
    case 'devices': {
      const ids = idsOf(d.ids)
      return ids.length === 0 ? null : { kind: 'devices', ids }
    }
  }
}

function Preview(props: { draft: Draft }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [state, setState] = useState<
    { kind: 'idle' } | { kind: 'loading' } | { kind: 'ok'; p: CasePreview } | { kind: 'error'; e: unknown }
  >({ kind: 'idle' })
  const d = props.draft
  const from = localMs(d.from)
  const to = localMs(d.to)
  const area = areaOf(d)
  const key = JSON.stringify({ from, to, area })

  useEffect(() => {
    if (from === null || to === null || area === null) {
      setState({ kind: 'idle' })
      return
    }
    const ctl = new AbortController()
    const timer = setTimeout(() => {
      setState({ kind: 'loading' })
      api.casePreview({ from, to, area }, ctl.signal).then(
        (p) => setState({ kind: 'ok', p }),
        (e: unknown) => {
          if (!isAbort(e)) setState({ kind: 'error', e })
        },
      )
    }, PREVIEW_DEBOUNCE_MS)
    return () => {
      clearTimeout(timer)
      ctl.abort()
    }
  }, [key])

  const errors = state.kind === 'error' ? fieldErrors(state.e) : {}
  return h(
    'div',
    { class: 'case-preview', 'aria-live': 'polite', 'data-testid': 'case-preview', 'data-state': state.kind },
    h('h2', null, t('cases.preview.heading')),
    state.kind === 'idle' ? h('p', { class: 'muted' }, t('cases.preview.incomplete')) : null,
    state.kind === 'loading' ? h('p', { class: 'muted' }, t('cases.preview.loading')) : null,
    state.kind === 'ok'
      ? h(
          'p',
          { 'data-testid': 'case-preview-summary', 'data-devices': state.p.devices },
          t('cases.preview.summary', {
            devices: state.p.devices,
            always: state.p.byPolicy.always,
            ask: state.p.byPolicy.ask,
            never: state.p.byPolicy.never,
            online: state.p.online,
            events: state.p.events,
            withClip: state.p.withClip,
          }),
        )
      : null,
    state.kind === 'error'
      ? h(
          'ul',
          { class: 'error-box', role: 'alert', 'data-testid': 'case-preview-error' },
          Object.keys(errors).length === 0
            ? h('li', null, messageOf(state.e, t))
            : Object.entries(errors).map(([f, m]) => h('li', { key: f }, `${f}: ${m}`)),
        )
      : null,
  )
}

/** Opens a case: number, reason, window and area, with what it would cover shown as the fields change. */
export function NewCase(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const now = Date.now()
  const [d, setD] = useState<Draft>(() => ({
    number: '',
    reason: '',
    from: toLocalInput(now - 6 * 3_600_000),
    to: toLocalInput(now),
    kind: 'devices',
    district: '1',
    lat: '',
    lon: '',
    radiusM: '200',
    ids: '',
  }))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const errors = fieldErrors(error)

  const set = (k: keyof Draft) => (e: Event) => {
    const v = (e.currentTarget as HTMLInputElement).value
    setD((old) => ({ ...old, [k]: v }))
  }
  const input = (k: keyof Draft, type = 'text', extra: Record<string, string | number> = {}) =>
    h('input', {
      id: `case-${k}`,
      type,
      value: d[k],
      onInput: set(k),
      'data-testid': `case-${k}`,
      'aria-invalid': errors[k] ? 'true' : undefined,
      ...extra,
    })

  const submit = (e: Event) => {
    e.preventDefault()
    const area = areaOf(d)
    const from = localMs(d.from)
    const to = localMs(d.to)
    setError(null)
    setBusy(true)
    api
      .openCase({
        number: d.number,
        reason: d.reason,
        from: from ?? Number.NaN,
        to: to ?? Number.NaN,
        // An incomplete area goes as it is: the gateway says what is missing, by field.
        area: area ?? ({ kind: d.kind } as CaseArea),
      })
      .then(
        (c) => {
          window.location.hash = hrefOf({ name: 'case', id: c.case.id })
        },
        (err: unknown) => {
          setBusy(false)
          setError(err)
        },
      )
  }

  const districts = Array.from({ length: DISTRICT_COUNT }, (_, i) => String(i + 1))
  return h(
    'section',
    { class: 'panel', 'data-testid': 'new-case' },
    h('h1', { tabIndex: -1 }, t('cases.title.new')),
    h(
      'form',
      { class: 'case-form', onSubmit: submit, noValidate: true },
      h(Field, { id: 'case-number', label: t('cases.form.number'), error: errors.number }, input('number')),
      h(
        Field,
        { id: 'case-reason', label: t('cases.form.reason'), error: errors.reason },
        h('textarea', {
          id: 'case-reason',
          rows: 3,
          value: d.reason,
          onInput: set('reason'),
          'data-testid': 'case-reason',
        }),
      ),
      h(
        Field,
        { id: 'case-from', label: t('cases.form.from'), error: errors.from },
        input('from', 'datetime-local'),
      ),
      h(Field, { id: 'case-to', label: t('cases.form.to'), error: errors.to }, input('to', 'datetime-local')),
      h(
        Field,
        { id: 'case-kind', label: t('cases.form.area'), error: errors.area },
        h(
          'select',
          { id: 'case-kind', value: d.kind, onChange: set('kind'), 'data-testid': 'case-kind' },
          (['district', 'radius', 'devices'] as const).map((k) =>
            h('option', { key: k, value: k }, t(`cases.form.area.${k}`)),
          ),
        ),
      ),
      d.kind === 'district'
        ? h(
            Field,
            { id: 'case-district', label: t('cases.form.district'), error: undefined },
            h(
              'select',
              {
                id: 'case-district',
                value: d.district,
                onChange: set('district'),
                'data-testid': 'case-district',
              },
              districts.map((n) => h('option', { key: n, value: n }, n)),
            ),
          )
        : null,
      d.kind === 'radius'
        ? h(
            'div',
            { class: 'field-row' },
            h(
              Field,
              { id: 'case-lat', label: t('cases.form.lat'), error: undefined },
              input('lat', 'number', { step: 'any' }),
            ),
            h(
              Field,
              { id: 'case-lon', label: t('cases.form.lon'), error: undefined },
              input('lon', 'number', { step: 'any' }),
            ),
            h(
              Field,
              { id: 'case-radiusM', label: t('cases.form.radius'), error: undefined },
              input('radiusM', 'number', { min: 1, max: 100_000 }),
            ),
          )
        : null,
      d.kind === 'devices'
        ? h(Field, { id: 'case-ids', label: t('cases.form.ids'), error: undefined }, input('ids'))
        : null,
      h(AreaMap, { draft: d, onChange: (patch) => setD((old) => ({ ...old, ...patch })) }),
      h(Preview, { draft: d }),
      error !== null && Object.keys(errors).length === 0
        ? h(
            'p',
            { class: 'error-box', role: 'alert', 'data-testid': 'case-form-error' },
            t('cases.form.failed', { message: messageOf(error, t) }),
          )
        : null,
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'case-submit' },
        busy ? t('cases.form.submitting') : t('cases.form.submit'),
      ),
    ),
  )
}
