import type { CampaignCreate, FirmwareImage } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { fieldErrors } from '../cases/field-errors.js'
import { Field } from '../field.js'
import { OpsTabs } from '../ops-tabs.js'
import { useLoad } from '../owner/load.js'
import { formatDistricts, parseDistricts } from './districts.js'

interface Draft {
  name: string
  imageId: string
  fromMin: string
  fromMax: string
  districts: string
  canaryPct: string
  waves: string
  pauseFailurePct: string
  pauseMinFinished: string
  districtConcurrency: string
}

/** The schema's defaults (proto CampaignCreate), shown in the fields so nothing is hidden. */
const DEFAULTS = {
  fromMin: '0',
  districts: '1-61',
  canaryPct: '5',
  waves: '25, 50, 100',
  pauseFailurePct: '20',
  pauseMinFinished: '5',
  districtConcurrency: '',
} as const

/** A number as typed; an empty or odd field goes as NaN (sent as null) for the gateway to refuse by name. */
function num(v: string): number {
  return v.trim() === '' ? Number.NaN : Number(v)
}

function bodyOf(d: Draft, districts: number[]): CampaignCreate {
  return {
    name: d.name.trim(),
    imageId: d.imageId,
    fromVersions: { min: d.fromMin.trim(), max: d.fromMax.trim() },
    districts,
    canaryPct: num(d.canaryPct),
    waves: d.waves
      .split(/[\s,，]+/)
      .filter(Boolean)
      .map(num),
    pauseFailurePct: num(d.pauseFailurePct),
    pauseMinFinished: num(d.pauseMinFinished),
    // Empty: the gateway's own default (DOORSTEP_FIRMWARE_DISTRICT_CONCURRENCY).
    ...(d.districtConcurrency.trim() === '' ? {} : { districtConcurrency: num(d.districtConcurrency) }),
  }
}

function Form(props: { images: FirmwareImage[] }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const first = props.images[0]
  const [d, setD] = useState<Draft>(() => ({
    ...DEFAULTS,
    name: '',
    imageId: first?.id ?? '',
    fromMax: first?.version ?? '',
  }))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [badDistrict, setBadDistrict] = useState<string | null>(null)
  const errors = fieldErrors(error)
  const image = props.images.find((i) => i.id === d.imageId)

  const set = (k: keyof Draft) => (e: Event) => {
    const v = (e.currentTarget as HTMLInputElement).value
    setD((old) => ({ ...old, [k]: v }))
  }
  const pickImage = (e: Event) => {
    const id = (e.currentTarget as HTMLSelectElement).value
    const old = props.images.find((i) => i.id === d.imageId)
    const next = props.images.find((i) => i.id === id)
    // The range's top follows the image until it is typed over: "everything older than this image".
    setD((o) => ({
      ...o,
      imageId: id,
      fromMax: next && (o.fromMax === '' || o.fromMax === old?.version) ? next.version : o.fromMax,
    }))
  }
  const input = (k: keyof Draft, type = 'text', extra: Record<string, string | number> = {}) =>
    h('input', {
      id: `cmp-${k}`,
      type,
      value: d[k],
      onInput: set(k),
      autoComplete: 'off',
      'data-testid': `cmp-${k}`,
      'aria-invalid': errors[k] ? 'true' : undefined,
      ...extra,
    })

  const submit = (e: Event) => {
    e.preventDefault()
    setError(null)
    const parsed = parseDistricts(d.districts)
    if ('bad' in parsed) {
      setBadDistrict(parsed.bad)
      return
    }
    setBadDistrict(null)
    setBusy(true)
    api.firmware.createCampaign(bodyOf(d, parsed.districts)).then(
      (c) => {
        window.location.hash = hrefOf({ name: 'campaign', id: c.id })
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  const numberField = (k: keyof Draft, label: string, hint?: string) =>
    h(
      Field,
      { id: `cmp-${k}`, label, error: errors[k], ...(hint ? { hint } : {}) },
      input(k, 'number', { min: 0, step: 'any' }),
    )
  const typed = parseDistricts(d.districts)
  const districtsText = 'bad' in typed ? null : typed
  return h(
    'form',
    { class: 'fw-form', onSubmit: submit, noValidate: true, 'data-testid': 'campaign-form' },
    h(Field, { id: 'cmp-name', label: t('firmware.form.name'), error: errors.name }, input('name')),
    h(
      Field,
      {
        id: 'cmp-imageId',
        label: t('firmware.form.image'),
        error: errors.imageId,
        ...(image ? { hint: t('firmware.form.imageHint', { model: image.model }) } : {}),
      },
      h(
        'select',
        { id: 'cmp-imageId', value: d.imageId, onChange: pickImage, 'data-testid': 'cmp-imageId' },
        props.images.map((i) =>
          h(
            'option',
            { key: i.id, value: i.id },
            t('firmware.imageName', { model: i.model, version: i.version }),
          ),
        ),
      ),
    ),
    h(
      'div',
      { class: 'field-row' },
      h(
        Field,
        { id: 'cmp-fromMin', label: t('firmware.form.fromMin'), error: errors.fromVersions },
        input('fromMin'),
      ),
      h(Field, { id: 'cmp-fromMax', label: t('firmware.form.fromMax'), error: undefined }, input('fromMax')),
    ),
    h(
      Field,
      {
        id: 'cmp-districts',
        label: t('firmware.form.districts'),
        error:
          badDistrict !== null ? t('firmware.form.badDistrict', { piece: badDistrict }) : errors.districts,
        hint:
          districtsText === null
            ? t('firmware.form.districtsHint')
            : t('firmware.form.districtsCount', {
                count: districtsText.districts.length,
                list: formatDistricts(districtsText.districts),
              }),
      },
      input('districts'),
    ),
    h(
      'div',
      { class: 'field-row' },
      numberField('canaryPct', t('firmware.form.canaryPct')),
      h(
        Field,
        {
          id: 'cmp-waves',
          label: t('firmware.form.waves'),
          error: errors.waves,
          hint: t('firmware.form.wavesHint'),
        },
        input('waves'),
      ),
    ),
    h(
      'div',
      { class: 'field-row' },
      numberField('pauseFailurePct', t('firmware.form.pauseFailurePct')),
      numberField('pauseMinFinished', t('firmware.form.pauseMinFinished')),
      numberField('districtConcurrency', t('firmware.form.concurrency'), t('firmware.form.concurrencyHint')),
    ),
    h('p', { class: 'muted' }, t('firmware.form.draftNote')),
    error !== null && Object.keys(errors).length === 0
      ? h(
          'p',
          { class: 'error-box', role: 'alert', 'data-testid': 'campaign-form-error' },
          t('firmware.form.failed', { message: messageOf(error, t) }),
        )
      : null,
    h(
      'button',
      { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'campaign-submit' },
      busy ? t('firmware.form.submitting') : t('firmware.form.submit'),
    ),
  )
}

/** #/campaigns/new (admins): makes a draft; its page then says how many units it chose, before Start. */
export function CampaignForm(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [images, reload] = useLoad((s) => api.firmware.images(s), [])
  return h(
    'section',
    { class: 'panel admin-page fw-page', 'data-testid': 'campaign-new' },
    h('h1', { tabIndex: -1 }, t('firmware.title.new')),
    h(OpsTabs, { current: 'campaigns' }),
    images.kind === 'loading'
      ? h(AdminLoading, {})
      : images.kind === 'error'
        ? h(AdminError, { error: images.error, retry: reload })
        : images.data.images.length === 0
          ? h(
              'p',
              { class: 'muted', 'data-testid': 'campaign-no-images' },
              t('firmware.form.noImages'),
              ' ',
              h('a', { href: hrefOf({ name: 'firmware' }) }, t('firmware.tab.images')),
            )
          : h(Form, { images: images.data.images }),
  )
}
