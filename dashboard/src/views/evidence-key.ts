import type { EvidenceKeys } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { useI18n } from '../i18n/use-i18n.js'
import { useServices } from '../services.js'

/**
 * The gateway's evidence key fingerprint, which whoever checks an export pins
 * (`npx doorstep verify case.zip --key <fingerprint>`). The route is public,
 * so it shows before sign-in; if it cannot be had, nothing is shown.
 */
export function EvidenceKeyNote(): JSX.Element | null {
  const { t } = useI18n()
  const fingerprint = useEvidenceFingerprint()
  if (!fingerprint) return null
  return h(
    'p',
    { class: 'muted evidence-key' },
    t('events.evidenceKey.lead'),
    h('code', { 'data-testid': 'evidence-fingerprint' }, fingerprint),
    t('events.evidenceKey.tail'),
  )
}

/** The gateway's current evidence key fingerprint (public route), or null while unknown or unreachable. */
export function useEvidenceFingerprint(): string | null {
  const { api } = useServices()
  const [fingerprint, setFingerprint] = useState<string | null>(null)
  useEffect(() => {
    const ctl = new AbortController()
    api
      .evidenceKeys(ctl.signal)
      .then((k: EvidenceKeys) =>
        setFingerprint(k.keys.find((x) => x.state === 'current')?.fingerprint ?? null),
      )
      .catch(() => setFingerprint(null))
    return () => ctl.abort()
  }, [api])
  return fingerprint
}
