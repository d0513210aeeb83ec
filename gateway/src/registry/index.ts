/** The registry feature's public surface: other features import only this file. */
export { deviceView, type LiveStateSource } from './device-view.js'
export { mapRoute } from './map-route.js'
export type { DeviceRecord, DeviceRegistry } from './registry.js'
export { registryRoutes } from './routes.js'
export { tokenDigest } from './secrets.js'
export { REGISTRY_SCHEMA, SqliteDeviceRegistry } from './sqlite-registry.js'
