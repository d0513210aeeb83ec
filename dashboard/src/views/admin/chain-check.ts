import type { LogsReport } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminFailed } from './status.js'

type State =
  | { kind: 'idle' }
  | { kind: 'busy' }
  | { kind: 'ok'; report: LogsReport }
  | { kind: 'error'; error: unknown }

/** The verdict on the audit log's and the custody logs' hash chains, against their signed checkpoints. */
function Verdict(props: { report: LogsReport }): JSX.Element {
  const { t } = useI18n()
  const r = props.report
  const brokenCustody = r.custody.filter((c) => !c.ok)
  const ok = r.ok && brokenCustody.length === 0 && r.checkpointProblems.length === 0
  return h(
    'div',
    {
      class: ok ? 'admin-verdict ok' : 'admin-verdict bad',
      role: 'status',
      'data-testid': 'chain-verdict',
      'data-ok': String(ok),
    },
    h(
      'p',
      null,
      ok
        ? t('admin.audit.verifyOk', { entries: r.entries, checkpoints: r.checkpoints })
        : t('admin.audit.verifyBad', { entries: r.entries }),
    ),
    ok
      ? null
      : h(
          'ul',
          null,
          r.problems.map((p) =>
            h(
              'li',
              { key: `a${p.seq}${p.problem}` },
              t('admin.audit.problem', { seq: p.seq, problem: p.problem }),
            ),
          ),
          brokenCustody.map((c) =>
            h('li', { key: c.caseId }, t('admin.audit.custodyBad', { caseId: c.caseId })),
          ),
          r.checkpointProblems.map((p) => h('li', { key: p }, p)),
        ),
  )
}

export function ChainCheck(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [state, setState] = useState<State>({ kind: 'idle' })
  const check = () => {
    setState({ kind: 'busy' })
    api.verifyAudit().then(
      (report) => setState({ kind: 'ok', report }),
      (error: unknown) => setState({ kind: 'error', error }),
    )
  }
  return h(
    'div',
    { class: 'admin-block' },
    h(
      'button',
      {
        type: 'button',
        class: 'btn primary',
        disabled: state.kind === 'busy',
        onClick: check,
        'data-testid': 'chain-check',
      },
      state.kind === 'busy' ? t('admin.working') : t('admin.audit.verify'),
    ),
    state.kind === 'ok' ? h(Verdict, { report: state.report }) : null,
    state.kind === 'error' ? h(AdminFailed, { error: state.error, testid: 'chain-error' }) : null,
  )
}
