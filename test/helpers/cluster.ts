import { copyRegistry } from '../../gateway/src/registry/index.js'
import { deviceRow } from './devices.js'
import type { TestGateway } from './gateway.js'

/**
 * Provisions a unit on `first` and copies it (secret hash and all) to the others, as a shared
 * registry would hold it, for gateways that do not share one database: each gateway a unit may reach
 * needs it.
 */
export async function unitOnAll(first: TestGateway, others: readonly TestGateway[], id: string) {
  const creds = await first.gateway.registry.create(deviceRow({ id }))
  for (const o of others) {
    await copyRegistry(first.gateway.shared, o.gateway.shared)
    await o.gateway.registry.load()
  }
  return creds
}
