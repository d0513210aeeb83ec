import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { ImportForm } from './import-form.js'
import { ProvisionForm } from './provision-form.js'
import { UnitControls } from './unit-controls.js'

/** #/admin/units: provisioning one unit or a CSV of them, and disabling or re-keying one. */
export function UnitsPage(): JSX.Element {
  const { t } = useI18n()
  return h(
    'section',
    { class: 'panel admin-page', 'data-testid': 'admin-units' },
    h('h1', { tabIndex: -1 }, t('admin.title.units')),
    h('p', { class: 'muted' }, t('admin.units.intro')),
    h(ProvisionForm, {}),
    h(ImportForm, {}),
    h(UnitControls, {}),
  )
}
