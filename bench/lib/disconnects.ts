/**
 * Why connections ended, from both sides: the gateway's
 * `doorstep_mqtt_disconnects_total{reason}` scraped from `/metrics`, and the
 * simulator's own counts of why its units' sessions and attempts ended.
 */
export type Counts = Record<string, number>

/** The gateway's disconnect counter by reason, for sessions (CONNACK 0 was sent) and for attempts that never got one. */
export interface GatewaySide {
  session: Counts
  connect: Counts
}

export async function gatewayDisconnects(httpUrl: string, token: string): Promise<GatewaySide> {
  const res = await fetch(`${httpUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`)
  const out: GatewaySide = { session: {}, connect: {} }
  for (const m of (await res.text()).matchAll(/^doorstep_mqtt_disconnects_total\{([^}]*)\} (\d+)$/gm)) {
    const labels = Object.fromEntries(
      [...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    )
    const side = labels.stage === 'session' ? out.session : out.connect
    side[labels.reason as string] = Number(m[2])
  }
  return out
}

/** Both sides' `delta`. */
export function gatewayDelta(after: GatewaySide, before?: GatewaySide): GatewaySide {
  return { session: delta(after.session, before?.session), connect: delta(after.connect, before?.connect) }
}

/** What was added between two readings; reasons that did not move are left out. */
export function delta(after: Counts, before: Counts = {}): Counts {
  const out: Counts = {}
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0)
    if (d !== 0) out[k] = d
  }
  return out
}

export const sum = (c: Counts): number => Object.values(c).reduce((a, b) => a + b, 0)

/** Sessions that ended unasked for: all but those ended with DISCONNECT or by the gateway stopping. */
export function dropped(g: GatewaySide): Counts {
  return Object.fromEntries(Object.entries(g.session).filter(([k]) => k !== 'clean' && k !== 'shutdown'))
}

/** `12 (keepalive 10, peer-closed 2)`, largest first; `0` when nothing. */
export function brief(c: Counts): string {
  const parts = Object.entries(c)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
  return parts.length === 0 ? '0' : `${sum(c)} (${parts.join(', ')})`
}
