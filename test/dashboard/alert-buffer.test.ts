import type { Alert } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { AlertBuffer } from '../../dashboard/src/live/alert-store.js'

const alert = (id: number, over: Partial<Alert> = {}): Alert => ({
  id,
  at: 1_700_000_000_000 + id,
  kind: 'motion',
  severity: 'info',
  deviceId: 'cam-0001',
  district: 7,
  count: 1,
  message: `alert ${id}`,
  ...over,
})

describe('AlertBuffer', () => {
  it('keeps alerts newest first and each id once', () => {
    const b = new AlertBuffer(10)
    expect(b.add([alert(1), alert(2), alert(3)], 0)).toBe(true)
    expect(b.add([alert(2), alert(3)], 0)).toBe(false)
    expect(b.list.map((a) => a.id)).toEqual([3, 2, 1])
  })

  it('places a replayed older alert in order', () => {
    const b = new AlertBuffer(10)
    b.add([alert(1), alert(5)], 0)
    b.add([alert(3)], 0)
    expect(b.list.map((a) => a.id)).toEqual([5, 3, 1])
  })

  it('drops the oldest beyond capacity and forgets their ids', () => {
    const b = new AlertBuffer(3)
    b.add(
      [1, 2, 3, 4, 5].map((id) => alert(id)),
      0,
    )
    expect(b.list.map((a) => a.id)).toEqual([5, 4, 3])
    // An alert older than everything held, with the buffer full, is not worth a slot.
    expect(b.add([alert(1)], 0)).toBe(false)
  })

  it('treats ids after a gateway restart as new, and newer than the old epoch', () => {
    const b = new AlertBuffer(10)
    b.add([alert(7), alert(8)], 0)
    b.add([alert(1), alert(2)], 1)
    expect(b.list.map((a) => `${a.epoch}:${a.id}`)).toEqual(['1:2', '1:1', '0:8', '0:7'])
  })

  it('returns a new list object only when something changed', () => {
    const b = new AlertBuffer(10)
    b.add([alert(1)], 0)
    const before = b.list
    b.add([alert(1)], 0)
    expect(b.list).toBe(before)
    b.add([alert(2)], 0)
    expect(b.list).not.toBe(before)
  })

  it('finds the alert of an event', () => {
    const b = new AlertBuffer(10)
    const eventId = '0b9f3f7e-8a55-4a8e-9a43-2b7e3c2f8d11'
    b.add([alert(1), alert(2, { kind: 'person', eventId })], 0)
    expect(b.byEventId(eventId)?.id).toBe(2)
  })
})
