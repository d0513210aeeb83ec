import type { EventView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'

function ClipArea(props: { event: EventView }): JSX.Element {
  const { api } = useServices()
  const { t, fmt } = useI18n()
  const [playing, setPlaying] = useState(false)
  const e = props.event
  const ready = e.clip.state === 'ready' && e.clip.url !== null
  if (!ready) {
    const why =
      e.clip.state === 'expired'
        ? t('owner.event.clipExpired')
        : e.clip.state === 'pending' || e.clip.state === 'uploading'
          ? t('owner.event.clipPending')
          : t('owner.event.noClip')
    return h('p', { class: 'muted' }, why)
  }
  // The video is made only on request: a list of events would otherwise fetch every clip's start.
  if (!playing)
    return h(
      'button',
      { type: 'button', class: 'btn small', 'data-testid': `play-${e.id}`, onClick: () => setPlaying(true) },
      t('owner.event.play'),
    )
  return h('video', {
    class: 'owner-video',
    src: api.myClipUrl(e.id),
    controls: true,
    autoPlay: true,
    playsInline: true,
    preload: 'metadata',
    'aria-label': t('owner.event.clip', { when: fmt.dateTime(e.startedAt) }),
    'data-testid': `clip-${e.id}`,
  })
}

/** One event of the owner's unit: what it was, when, and its clip. */
export function EventItem(props: { event: EventView }): JSX.Element {
  const { t, fmt } = useI18n()
  const e = props.event
  return h(
    'li',
    { class: 'owner-card', 'data-testid': `my-event-${e.id}` },
    h(
      'p',
      { class: 'owner-card-title' },
      h('span', { class: `kind kind-${e.kind}` }, t(`owner.kind.${e.kind}`)),
      ' ',
      h('time', { dateTime: new Date(e.startedAt).toISOString(), class: 'muted' }, fmt.dateTime(e.startedAt)),
    ),
    h(ClipArea, { event: e }),
  )
}
