import { randomUUID } from 'node:crypto'
import type { DeviceEvent, EventKind } from '@doorstep/proto'
import { pickZone } from './behaviour.js'
import type { ClipFile } from './clips.js'
import type { SettingName } from './fleet-plan.js'

/**
 * The life of one detection, decided up front: start → (update, half the
 * time) → end with the clip. The unit schedules the phases and stamps each
 * with its clock when it goes out.
 */
export interface EventPhase {
  /** After the start, ms. */
  delayMs: number
  payload: Omit<DeviceEvent, 'ts'>
}

export interface EventScript {
  eventId: string
  clip: ClipFile
  phases: EventPhase[]
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

export function scriptEvent(
  setting: SettingName,
  kind: EventKind,
  clips: readonly ClipFile[],
  random: () => number,
): EventScript | null {
  const clip = clips[Math.floor(random() * clips.length)]
  if (!clip) return null
  const eventId = randomUUID()
  const base = { v: 1 as const, eventId, kind, zone: pickZone(setting, random) }
  const score = 0.35 + 0.55 * random()
  const peak = Math.min(1, score + 0.05 + 0.1 * random())
  const phases: EventPhase[] = [{ delayMs: 0, payload: { ...base, phase: 'start', score: round3(score) } }]
  if (random() < 0.5) {
    phases.push({
      delayMs: clip.durationMs * (0.3 + 0.3 * random()),
      payload: { ...base, phase: 'update', score: round3(peak) },
    })
  }
  const { bytes, sha256, durationMs, codec } = clip
  phases.push({
    // The clip closes after the recording plus a moment to finish the file.
    delayMs: clip.durationMs + 200 + 1300 * random(),
    payload: { ...base, phase: 'end', score: round3(peak), clip: { bytes, sha256, durationMs, codec } },
  })
  return { eventId, clip, phases }
}
