import type { ClipState, EventView } from '@doorstep/proto'
import type { MessageKey } from '../i18n/catalogue.js'
import type { Formats } from '../i18n/formats.js'
import type { Translator } from '../i18n/translator.js'

/** What each clip state means to the person looking (proto/src/events.ts ClipState). */
export function clipStateKey(state: ClipState): MessageKey {
  return `events.clip.state.${state}` as const
}

/** A short label for lists: "clip 12 s", "clip uploading", "no clip". */
export function clipLabel(e: EventView, t: Translator['t'], fmt: Formats): string {
  const c = e.clip
  if (c.state === 'ready')
    return c.durationMs
      ? t('events.clip.label.ready', { duration: fmt.duration(c.durationMs) })
      : t('events.clip.label.readyShort')
  return t(`events.clip.label.${c.state}` as const)
}
