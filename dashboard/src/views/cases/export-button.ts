import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { useEvidenceFingerprint } from '../evidence-key.js'

/** Hands a Blob to the browser as a download, and lets go of it once the browser has it. */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/**
 * The evidence ZIP, and beside it how whoever receives it checks it: the verify command with the
 * gateway's current evidence key fingerprint pinned.
 */
export function ExportButton(props: { caseId: string }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const fingerprint = useEvidenceFingerprint()

  const download = () => {
    setBusy(true)
    setError(null)
    api.exportCase(props.caseId).then(
      (f) => {
        setBusy(false)
        save(f.blob, f.name)
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }

  return h(
    'div',
    { class: 'case-export' },
    h(
      'button',
      { type: 'button', class: 'btn', disabled: busy, onClick: download, 'data-testid': 'case-export' },
      busy ? t('cases.action.exporting') : t('cases.action.export'),
    ),
    error === null
      ? null
      : h(
          'p',
          { class: 'error-box', role: 'alert' },
          t('cases.action.failed', { message: messageOf(error, t) }),
        ),
    fingerprint === null
      ? null
      : h(
          'p',
          { class: 'muted' },
          `${t('cases.verify.lead')} `,
          h(
            'code',
            { 'data-testid': 'case-verify-command' },
            `npx doorstep verify <file> --key ${fingerprint}`,
          ),
          h('br', null),
          `${t('cases.verify.key')} `,
          h('code', { 'data-testid': 'case-fingerprint' }, fingerprint),
        ),
  )
}
