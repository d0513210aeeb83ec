import { DoorstepError } from '../errors.js'

/** Opaque page cursor: the sort key of the last event of a page. */
export function encodeCursor(startedAt: number, id: string): string {
  return Buffer.from(`${startedAt}|${id}`).toString('base64url')
}

export function decodeCursor(cursor: string): { startedAt: number; id: string } {
  const [t, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const startedAt = Number(t)
  if (!Number.isSafeInteger(startedAt) || !id || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'cursor: not a cursor this API gave out')
  }
  return { startedAt, id }
}
