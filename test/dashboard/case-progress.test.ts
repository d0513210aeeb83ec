import { describe, expect, it } from 'vitest'
import { CaseProgress, type PullFrame } from '../../dashboard/src/live/case-progress.js'

const pull = (n: number, state: PullFrame['state'], bytes = 0): PullFrame => ({
  type: 'pull',
  pullId: `p-${n}`,
  caseId: 'c-1',
  deviceId: `cam-${n}`,
  district: 7,
  state,
  bytes,
  total: 1000,
  reason: null,
})

describe('case progress from the socket', () => {
  it('keeps the latest frame of each pull and counts case changes and reconnects', () => {
    const p = new CaseProgress()
    p.apply(pull(1, 'pending'))
    p.apply(pull(1, 'uploading', 400))
    p.apply(pull(2, 'offline'))
    p.apply({ type: 'case', caseId: 'c-1', number: 'X-1', state: 'closed' })
    p.reconnected()
    expect(p.pulls.get().get('p-1')).toMatchObject({ state: 'uploading', bytes: 400 })
    expect(p.pulls.get().get('p-2')?.state).toBe('offline')
    expect(p.cases.get()).toBe(1)
    expect(p.reconnects.get()).toBe(1)
    p.clear()
    expect(p.pulls.get().size).toBe(0)
  })

  it('follows at most 5000 pulls, forgetting the longest quiet first', () => {
    const p = new CaseProgress()
    for (let i = 0; i < 6000; i++) p.apply(pull(i, 'pending'))
    p.apply(pull(1500, 'uploading', 1))
    for (let i = 6000; i < 6400; i++) p.apply(pull(i, 'pending'))
    const held = p.pulls.get()
    expect(held.size).toBe(5000)
    expect(held.has('p-0')).toBe(false)
    // Touched recently, so kept although older than the others.
    expect(held.get('p-1500')?.bytes).toBe(1)
    expect(held.has('p-6399')).toBe(true)
  })
})
