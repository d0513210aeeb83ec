import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Spool } from '../../gateway/src/ingest/spool.js'
import { tempDir } from '../helpers/tmp.js'

describe('Spool', () => {
  let tmp: ReturnType<typeof tempDir>
  let spool: Spool
  beforeEach(async () => {
    tmp = tempDir()
    spool = new Spool(`${tmp.dir}/spool.db`)
    await spool.open()
  })
  afterEach(async () => {
    await spool.close()
    tmp.cleanup()
  })

  it('appends events durably, in order, and recognises a retried event', async () => {
    const [a, b, dup] = await Promise.all([
      spool.appendEvent('e1:start', 'events_1y', 'event a 1'),
      spool.appendEvent('e2:start', 'events_1y', 'event b 2'),
      spool.appendEvent('e1:start', 'events_1y', 'event a 1'),
    ])
    expect(a).toEqual({ duplicate: false, seq: expect.any(Number) })
    expect(b.duplicate).toBe(false)
    expect(dup).toEqual({ duplicate: true })
    expect((await spool.read(0, 10)).map((r) => [r.rp, r.line])).toEqual([
      ['events_1y', 'event a 1'],
      ['events_1y', 'event b 2'],
    ])
    expect(spool.rows).toBe(2)
  })

  it('the same event id in another phase is a new record', async () => {
    const r1 = await spool.appendEvent('e1:start', 'events_1y', 'start')
    const r2 = await spool.appendEvent('e1:end', 'events_1y', 'end')
    expect(r1.duplicate || r2.duplicate).toBe(false)
  })

  it('survives a reopen (what was acknowledged is on disk) and forgets delivered rows', async () => {
    await spool.appendEvent('e1:start', 'events_1y', 'line-1')
    await spool.appendEvent('e2:start', 'events_1y', 'line-2')
    const rows = await spool.read(0, 10)
    spool.markDelivered(rows.slice(0, 1))
    // Closing commits what is pending: the delivered row goes, the other stays.
    await spool.close()
    spool = new Spool(`${tmp.dir}/spool.db`)
    await spool.open()
    expect((await spool.read(0, 10)).map((r) => r.line)).toEqual(['line-2'])
    expect(spool.rows).toBe(1)
    expect(spool.bytes).toBe('line-2'.length)
    // The dedup memory survives too: a retry after a restart lands once.
    expect(await spool.appendEvent('e1:start', 'events_1y', 'line-1')).toEqual({ duplicate: true })
  })

  it('pruneSeen forgets old keys only', async () => {
    await spool.appendEvent('old:start', 'events_1y', 'x')
    expect(await spool.pruneSeen(Date.now() - 60_000)).toBe(0)
    expect(await spool.pruneSeen(Date.now() + 1)).toBe(1)
  })
})
