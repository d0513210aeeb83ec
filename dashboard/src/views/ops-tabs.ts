import { h, type JSX } from 'preact'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'
import { hrefOf, type Route } from '../router.js'

type OpsTab = 'config' | 'firmware' | 'campaigns' | 'notify'

const TABS: Array<{ name: OpsTab; route: Route; label: MessageKey }> = [
  { name: 'config', route: { name: 'config', device: null }, label: 'config.nav.config' },
  { name: 'firmware', route: { name: 'firmware' }, label: 'firmware.tab.images' },
  { name: 'campaigns', route: { name: 'campaigns' }, label: 'firmware.tab.campaigns' },
  { name: 'notify', route: { name: 'notify' }, label: 'notify.nav.notify' },
]

/**
 * Fleet operations (configuration, firmware images and campaigns, notifications) have one header link
 * for admins and ops; their pages are tabs under it, so the header still fits a desktop row.
 */
export function OpsTabs(props: { current: OpsTab }): JSX.Element {
  const { t } = useI18n()
  return h(
    'nav',
    { class: 'ops-tabs', 'aria-label': t('shell.nav.ops') },
    TABS.map((tab) =>
      h(
        'a',
        {
          key: tab.name,
          href: hrefOf(tab.route),
          class: 'ops-tab',
          'aria-current': props.current === tab.name ? 'page' : undefined,
          'data-testid': `ops-tab-${tab.name}`,
        },
        t(tab.label),
      ),
    ),
  )
}
