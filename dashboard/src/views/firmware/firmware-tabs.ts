import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'

/** The firmware room has one header link; its two lists are tabs under the heading. */
export function FirmwareTabs(props: { current: 'firmware' | 'campaigns' }): JSX.Element {
  const { t } = useI18n()
  const tab = (name: 'firmware' | 'campaigns', label: string) =>
    h(
      'a',
      {
        href: hrefOf({ name }),
        class: 'fw-tab',
        'aria-current': props.current === name ? 'page' : undefined,
        'data-testid': `fw-tab-${name}`,
      },
      label,
    )
  return h(
    'nav',
    { class: 'fw-tabs', 'aria-label': t('firmware.tabs') },
    tab('firmware', t('firmware.tab.images')),
    tab('campaigns', t('firmware.tab.campaigns')),
  )
}
