import type { NotifyKind, RuleCreate } from '@doorstep/proto'

export type SeverityChoice = '' | 'info' | 'warning' | 'critical'

/** The rule form's fields as typed. */
export interface RuleDraft {
  name: string
  kind: NotifyKind
  /** Empty: every district. */
  district: string
  /** Empty: the kind's own. */
  severity: SeverityChoice
  offlineMinutes: string
  /** Empty: the gateway's default window. */
  windowMinutes: string
  /** `HH:MM`, both empty: no quiet hours. */
  quietStart: string
  quietEnd: string
  quietZone: string
  channels: string[]
}

export function emptyRule(timeZone: string): RuleDraft {
  return {
    name: '',
    kind: 'offline',
    district: '',
    severity: '',
    offlineMinutes: '10',
    windowMinutes: '',
    quietStart: '',
    quietEnd: '',
    quietZone: timeZone,
    channels: [],
  }
}

const given = (s: string) => s.trim() !== ''

/**
 * The body the draft asks for; the gateway checks every bound and names each field it refuses (a quiet
 * span with one end only is sent as it is, so the refusal says which end is missing).
 */
export function ruleBodyOf(d: RuleDraft): RuleCreate {
  const quiet = given(d.quietStart) || given(d.quietEnd)
  return {
    name: d.name,
    kind: d.kind,
    district: given(d.district) ? Number(d.district) : null,
    ...(d.severity === '' ? {} : { severity: d.severity }),
    ...(d.kind === 'offline' && given(d.offlineMinutes) ? { offlineMinutes: Number(d.offlineMinutes) } : {}),
    ...(given(d.windowMinutes) ? { windowS: Math.round(Number(d.windowMinutes) * 60) } : {}),
    quietHours: quiet
      ? { start: d.quietStart.trim(), end: d.quietEnd.trim(), timeZone: d.quietZone.trim() || 'UTC' }
      : null,
    channels: d.channels,
  }
}
