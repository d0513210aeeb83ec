/** A Prometheus text exposition as `name{labels}` → value (labels as written by prom-client). */
export function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    out.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return out
}

/** The sum of a family's series (every label set). */
export function familySum(m: ReadonlyMap<string, number>, name: string): number {
  let sum = 0
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) sum += v
  return sum
}

export async function scrape(httpUrl: string, token: string): Promise<Map<string, number>> {
  const res = await fetch(`${httpUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`)
  return parseProm(await res.text())
}
