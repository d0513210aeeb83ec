/** The registry feature's public surface: other features import only this file. */
export { deviceView, type LiveStateSource } from './device-view.js'
export { mapRoute } from './map-route.js'
export type { DeviceRecord, DeviceRegistry } from './registry.js'
export { runRegistryCli } from './registry-cli.js'
export { registryRoutes } from './routes.js'
export { tokenDigest } from './secrets.js'
export {
  copyRegistry,
  REGISTRY_CHANNEL,
  REGISTRY_SCHEMA,
  REGISTRY_SCHEMA_POSTGRES,
  type RegistryCopy,
  type RegistryOptions,
  StoredDeviceRegistry,
} from './stored-registry.js'
