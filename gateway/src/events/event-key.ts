/**
 * The index key of an event id: its first 48 bits (12 hex digits), an exact
 * integer in JS. Ids are UUIDs, whose leading digits are random; two ids that
 * share them are told apart by the id itself, which every lookup compares too.
 */
export function eventKey(eventId: string): number {
  const k = Number.parseInt(eventId.slice(0, 8) + eventId.slice(9, 13), 16)
  return Number.isSafeInteger(k) ? k : 0
}
