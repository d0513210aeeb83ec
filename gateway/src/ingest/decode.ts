import { TOPICS, type TopicKind } from '@doorstep/proto'
import type { z } from 'zod'

/** Why a payload was refused; these are also the metric and log labels. */
export type InvalidReason = 'too-large' | 'not-json' | 'schema' | 'unknown-topic' | 'foreign-topic'

export type Decoded<K extends TopicKind> =
  | { ok: true; value: z.infer<(typeof TOPICS)[K]['schema']> }
  | { ok: false; reason: InvalidReason; detail: string }

/**
 * decode → validate: the first two stages of the pipeline. JSON.parse on the
 * buffer's UTF-8 text, then the topic's zod schema. Firmware that adds fields
 * passes (they are stripped); firmware that breaks a field is refused with the
 * first issue, which is what the log needs.
 */
export function decodePayload<K extends TopicKind>(kind: K, payload: Buffer, maxBytes: number): Decoded<K> {
  if (payload.length > maxBytes) {
    return { ok: false, reason: 'too-large', detail: `${payload.length} bytes > ${maxBytes}` }
  }
  let json: unknown
  try {
    json = JSON.parse(payload.toString('utf8'))
  } catch {
    return { ok: false, reason: 'not-json', detail: 'payload is not JSON' }
  }
  const parsed = TOPICS[kind].schema.safeParse(json)
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    return {
      ok: false,
      reason: 'schema',
      detail: i ? `${i.path.join('.') || '(payload)'}: ${i.message}` : 'invalid',
    }
  }
  return { ok: true, value: parsed.data as z.infer<(typeof TOPICS)[K]['schema']> }
}
