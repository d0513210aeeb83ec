import type { FirmwareImage } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, messageOf } from '../../api/errors.js'
import { isAbort } from '../../api/http.js'
import type { UploadProgress } from '../../api/upload.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { fieldErrors } from '../cases/field-errors.js'
import { Field } from '../field.js'

/** Refusals that are about the file itself, shown under the file field rather than the form. */
const FILE_CODES = new Set(['DOORSTEP_ERR_PAYLOAD_TOO_LARGE', 'DOORSTEP_ERR_UNSUPPORTED_MEDIA'])

/**
 * Uploads an image (admins): the file goes as the raw body with its model and version, with the bytes
 * sent shown as they go. The gateway checks the fields; what it refuses is shown beside them.
 */
export function UploadForm(props: { onUploaded: (img: FirmwareImage) => void }): JSX.Element {
  const { api } = useServices()
  const { t, fmt } = useI18n()
  const [model, setModel] = useState('')
  const [version, setVersion] = useState('')
  const [file, setFile] = useState<File | null>(null)
  const [progress, setProgress] = useState<UploadProgress | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [noFile, setNoFile] = useState(false)
  const [done, setDone] = useState<FirmwareImage | null>(null)
  const fileInput = useRef<HTMLInputElement>(null)
  const running = useRef<AbortController | null>(null)
  useEffect(() => () => running.current?.abort(), [])

  const errors = fieldErrors(error)
  const code = error instanceof ApiError ? error.code : null
  const fileError = noFile
    ? t('firmware.upload.noFile')
    : code !== null && FILE_CODES.has(code)
      ? messageOf(error, t)
      : undefined
  const formError =
    error !== null && Object.keys(errors).length === 0 && fileError === undefined ? messageOf(error, t) : null

  const submit = (e: Event) => {
    e.preventDefault()
    setDone(null)
    setError(null)
    setNoFile(file === null)
    if (file === null) return
    const ctl = new AbortController()
    running.current = ctl
    setProgress({ sent: 0, total: file.size })
    api.firmware.upload(file, { model: model.trim(), version: version.trim() }, setProgress, ctl.signal).then(
      (img) => {
        setProgress(null)
        setDone(img)
        setModel('')
        setVersion('')
        setFile(null)
        if (fileInput.current) fileInput.current.value = ''
        props.onUploaded(img)
      },
      (err: unknown) => {
        setProgress(null)
        if (!isAbort(err)) setError(err)
      },
    )
  }

  const text = (id: string, value: string, set: (v: string) => void, invalid: boolean) =>
    h('input', {
      id,
      type: 'text',
      value,
      autoComplete: 'off',
      spellcheck: false,
      'aria-invalid': invalid ? 'true' : undefined,
      'data-testid': id,
      onInput: (e: Event) => set((e.currentTarget as HTMLInputElement).value),
    })

  return h(
    'div',
    { class: 'admin-block' },
    h('h2', null, t('firmware.upload.heading')),
    h(
      'form',
      { class: 'fw-form', onSubmit: submit, noValidate: true, 'data-testid': 'upload-form' },
      h(
        Field,
        { id: 'fw-file', label: t('firmware.upload.file'), error: fileError },
        h('input', {
          id: 'fw-file',
          type: 'file',
          ref: fileInput,
          'data-testid': 'fw-file',
          'aria-invalid': fileError ? 'true' : undefined,
          onChange: (e: Event) => {
            setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)
            setNoFile(false)
          },
        }),
      ),
      h(
        'div',
        { class: 'field-row' },
        h(
          Field,
          { id: 'fw-model', label: t('firmware.upload.model'), error: errors.model },
          text('fw-model', model, setModel, errors.model !== undefined),
        ),
        h(
          Field,
          { id: 'fw-version', label: t('firmware.upload.version'), error: errors.version },
          text('fw-version', version, setVersion, errors.version !== undefined),
        ),
      ),
      progress === null
        ? null
        : h(
            'div',
            { class: 'pull-progress', role: 'status', 'data-testid': 'upload-progress' },
            h(
              'span',
              null,
              t('firmware.upload.progress', {
                sent: fmt.bytes(progress.sent),
                total: fmt.bytes(progress.total),
                pct: fmt.pct(progress.sent, progress.total),
              }),
            ),
            h('progress', {
              value: progress.sent,
              max: progress.total || 1,
              'aria-label': t('firmware.upload.uploading'),
            }),
          ),
      formError === null
        ? null
        : h('p', { class: 'error-box', role: 'alert', 'data-testid': 'upload-error' }, formError),
      done === null
        ? null
        : h(
            'p',
            { role: 'status', class: 'fw-done', 'data-testid': 'upload-done' },
            t('firmware.upload.done', { model: done.model, version: done.version }),
          ),
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: progress !== null, 'data-testid': 'upload-submit' },
        progress === null ? t('firmware.upload.submit') : t('firmware.upload.uploading'),
      ),
    ),
  )
}
