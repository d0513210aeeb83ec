import type { DeviceView, LiveState } from '@doorstep/proto'
import type { z } from 'zod'
import type { DeviceRecord } from './registry.js'

/** Live state is owned by presence; the registry routes only ask for it. */
export interface LiveStateSource {
  stateOf(id: string): {
    state: z.infer<typeof LiveState>
    lastSeen: number | null
    lastHeartbeat: Record<string, unknown> | null
  }
}

/** A unit as people see it: its record and its live state. */
export function deviceView(d: DeviceRecord, live: LiveStateSource): DeviceView {
  return { ...d, ...live.stateOf(d.id) }
}
