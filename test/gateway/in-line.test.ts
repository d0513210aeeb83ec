import { describe, expect, it } from 'vitest'
import { InLine } from '../../gateway/src/in-line.js'

const tick = () => new Promise((r) => setTimeout(r, 1))

describe('InLine: jobs one at a time, in order', () => {
  it('runs each job after the one before has finished, in the order added', async () => {
    const line = new InLine(() => {})
    const seen: string[] = []
    let running = 0
    let most = 0
    for (const id of ['a', 'b', 'c', 'd']) {
      line.add(async () => {
        running++
        most = Math.max(most, running)
        await tick()
        seen.push(id)
        running--
      }, id)
    }
    await line.idle()
    expect(seen).toEqual(['a', 'b', 'c', 'd'])
    expect(most).toBe(1)
  })

  it('hands a failed job to onError with its label and goes on', async () => {
    const failed: Array<[string, string]> = []
    const line = new InLine((err, label) => failed.push([label, (err as Error).message]))
    const seen: string[] = []
    line.add(async () => {
      throw new Error('pool timeout')
    }, 'unit-1')
    line.add(async () => {
      seen.push('unit-2')
    }, 'unit-2')
    await line.idle()
    expect(failed).toEqual([['unit-1', 'pool timeout']])
    expect(seen).toEqual(['unit-2'])
  })

  it('drops the jobs not yet begun once stopped, and takes no more', async () => {
    const line = new InLine(() => {})
    const seen: string[] = []
    let release = () => {}
    line.add(
      () =>
        new Promise<void>((r) => {
          release = () => {
            seen.push('first')
            r()
          }
        }),
      'first',
    )
    line.add(async () => {
      seen.push('queued')
    }, 'queued')
    await tick()
    line.stop()
    line.add(async () => {
      seen.push('late')
    }, 'late')
    release()
    await line.idle()
    expect(seen).toEqual(['first'])
  })
})
