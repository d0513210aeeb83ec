import { deviceRow } from './devices.js'
import type { TestGateway } from './gateway.js'

/**
 * Provisions a unit on `first` and copies its row (secret hash and all) to the others, as a shared
 * registry would hold it: until the registry is shared, each gateway a unit may reach needs it.
 */
export async function unitOnAll(first: TestGateway, others: readonly TestGateway[], id: string) {
  const creds = await first.gateway.registry.create(deviceRow({ id }))
  const row = first.gateway.db.prepare('SELECT * FROM devices WHERE id = ?').get(id) as Record<
    string,
    unknown
  >
  const cols = Object.keys(row)
  for (const o of others) {
    o.gateway.db
      .prepare(`INSERT INTO devices (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`)
      .run(row)
    o.gateway.registry.load()
  }
  return creds
}
