import type { EventView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { kindKey } from '../kinds.js'

/** The units' events inside the case window, newest first, each a link to its page. */
export function CaseEvents(props: { events: EventView[] }): JSX.Element {
  const { t, fmt } = useI18n()
  return h(
    'div',
    { class: 'case-events' },
    h('h2', null, t('cases.events.heading')),
    props.events.length === 0
      ? h('p', { class: 'muted' }, t('cases.events.none'))
      : h(
          'table',
          { class: 'table', 'data-testid': 'case-events' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, t('cases.events.time')),
              h('th', null, t('cases.events.unit')),
              h('th', null, t('cases.events.kind')),
            ),
          ),
          h(
            'tbody',
            null,
            props.events.map((e) =>
              h(
                'tr',
                { key: e.id },
                h(
                  'td',
                  null,
                  h('a', { href: hrefOf({ name: 'event', id: e.id }) }, fmt.dateTime(e.startedAt)),
                ),
                h('td', null, e.deviceId),
                h('td', null, t(kindKey(e.kind))),
              ),
            ),
          ),
        ),
  )
}
