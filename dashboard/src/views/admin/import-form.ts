import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { ApiError } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminFailed } from './status.js'

/** One bad row as the gateway names it: `row` counts data rows from 0, the header not included. */
interface RowError {
  row: number
  field: string
  message: string
}

function rowErrorsOf(err: unknown): RowError[] | null {
  if (!(err instanceof ApiError) || err.code !== 'DOORSTEP_ERR_IMPORT_INVALID') return null
  const d = err.details
  if (typeof d !== 'object' || d === null || !('errors' in d) || !Array.isArray(d.errors)) return null
  return d.errors.filter(
    (e: unknown): e is RowError =>
      typeof e === 'object' &&
      e !== null &&
      typeof (e as RowError).row === 'number' &&
      typeof (e as RowError).field === 'string' &&
      typeof (e as RowError).message === 'string',
  )
}

/** The CSV's data lines as the gateway counts them (empty lines skipped), to show a bad row's contents. */
function dataLines(csv: string): string[] {
  return csv
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(1)
}

type Outcome =
  | { kind: 'none' }
  | { kind: 'ok'; count: number }
  | { kind: 'rows'; errors: RowError[]; lines: string[] }
  | { kind: 'error'; error: unknown }

/** The installers' CSV, sent as it is: every row is provisioned or none, and every bad row is named. */
export function ImportForm(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [csv, setCsv] = useState('')
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<Outcome>({ kind: 'none' })

  const pick = (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0]
    if (file) file.text().then(setCsv, (error: unknown) => setOutcome({ kind: 'error', error }))
  }

  const submit = (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setOutcome({ kind: 'none' })
    const sent = csv
    api.importCsv(sent).then(
      (r) => {
        setBusy(false)
        setOutcome({ kind: 'ok', count: r.created.length })
      },
      (error: unknown) => {
        setBusy(false)
        const errors = rowErrorsOf(error)
        setOutcome(errors ? { kind: 'rows', errors, lines: dataLines(sent) } : { kind: 'error', error })
      },
    )
  }

  const byRow = new Map<number, RowError[]>()
  if (outcome.kind === 'rows') {
    for (const e of outcome.errors) byRow.set(e.row, [...(byRow.get(e.row) ?? []), e])
  }

  return h(
    'div',
    { class: 'admin-block' },
    h('h2', null, t('admin.units.import')),
    h('p', { class: 'muted' }, t('admin.units.importHelp')),
    h(
      'form',
      { class: 'admin-form wide', onSubmit: submit, 'data-testid': 'import-form' },
      h(
        'label',
        null,
        h('span', null, t('admin.units.file')),
        h('input', { type: 'file', accept: '.csv,text/csv', onChange: pick, 'data-testid': 'import-file' }),
      ),
      h(
        'label',
        null,
        h('span', null, t('admin.units.csv')),
        h('textarea', {
          rows: 6,
          value: csv,
          spellcheck: false,
          'data-testid': 'import-csv',
          onInput: (e: Event) => setCsv((e.currentTarget as HTMLTextAreaElement).value),
        }),
      ),
      h(
        'button',
        {
          type: 'submit',
          class: 'btn primary',
          disabled: busy || csv.trim() === '',
          'data-testid': 'import-submit',
        },
        busy ? t('admin.working') : t('admin.units.importSubmit'),
      ),
    ),
    outcome.kind === 'ok'
      ? h(
          'p',
          { role: 'status', 'data-testid': 'import-ok', 'data-count': String(outcome.count) },
          t('admin.units.imported', { count: outcome.count }),
        )
      : null,
    outcome.kind === 'error' ? h(AdminFailed, { error: outcome.error, testid: 'import-error' }) : null,
    outcome.kind === 'rows'
      ? h(
          'div',
          { class: 'error-box admin-rows', role: 'alert', 'data-testid': 'import-invalid' },
          h('p', null, t('admin.units.importInvalid', { count: outcome.errors.length })),
          h(
            'ul',
            null,
            [...byRow.entries()].map(([row, errs]) =>
              h(
                'li',
                { key: row, 'data-testid': `import-row-${row + 1}` },
                h(
                  'code',
                  null,
                  t('admin.units.rowContents', { row: row + 1, contents: outcome.lines[row] ?? '' }),
                ),
                h(
                  'ul',
                  null,
                  errs.map((e, i) =>
                    h('li', { key: i }, t('admin.units.rowError', { field: e.field, message: e.message })),
                  ),
                ),
              ),
            ),
          ),
        )
      : null,
  )
}
