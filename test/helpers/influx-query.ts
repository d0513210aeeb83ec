/** Reads InfluxDB over its HTTP API, the way an operator's tools would. */
export async function influxQuery(
  url: string,
  db: string,
  q: string,
): Promise<Array<{ columns: string[]; values: unknown[][] }>> {
  const res = await fetch(`${url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`)
  if (!res.ok) throw new Error(`influx query failed: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as {
    results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }>; error?: string }>
  }
  const r = body.results[0]
  if (r?.error) throw new Error(r.error)
  return r?.series ?? []
}

/** Rows of the first series as objects. */
export async function influxRows(
  url: string,
  db: string,
  q: string,
): Promise<Array<Record<string, unknown>>> {
  const series = await influxQuery(url, db, q)
  const out: Array<Record<string, unknown>> = []
  for (const s of series) {
    for (const v of s.values) out.push(Object.fromEntries(s.columns.map((c, i) => [c, v[i]])))
  }
  return out
}

export async function influxCount(url: string, db: string, q: string): Promise<number> {
  const rows = await influxRows(url, db, q)
  const first = rows[0]
  if (!first) return 0
  const key = Object.keys(first).find((k) => k !== 'time')
  return key ? Number(first[key]) : 0
}
