import { DISTRICT_COUNT } from '@doorstep/proto'

/** Every district, as the campaign form starts: a rollout is usually city-wide, narrowed when not. */
export const ALL_DISTRICTS = Array.from({ length: DISTRICT_COUNT }, (_, i) => i + 1)

/**
 * Districts as people type them: numbers and ranges, `1-5, 9 12`. Returns them sorted without
 * repeats, or the first piece that is not a district (1..61) or a range of them.
 */
export function parseDistricts(text: string): { districts: number[] } | { bad: string } {
  const out = new Set<number>()
  for (const piece of text.split(/[\s,，、]+/).filter(Boolean)) {
    const m = /^(\d+)(?:[-–~](\d+))?$/.exec(piece)
    const from = Number(m?.[1])
    const to = m?.[2] === undefined ? from : Number(m[2])
    if (!m || from < 1 || to > DISTRICT_COUNT || from > to) return { bad: piece }
    for (let d = from; d <= to; d++) out.add(d)
  }
  return { districts: [...out].sort((a, b) => a - b) }
}

/** The reverse: runs of three or more written as ranges, `1-5, 9, 12`. */
export function formatDistricts(districts: readonly number[]): string {
  const sorted = [...new Set(districts)].sort((a, b) => a - b)
  const parts: string[] = []
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++
    const a = sorted[i] as number
    const b = sorted[j] as number
    if (j - i >= 2) parts.push(`${a}-${b}`)
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]))
    i = j + 1
  }
  return parts.join(', ')
}
