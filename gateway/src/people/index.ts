/** The people feature's public surface: other features import only this file. */
export { ownerRoutes } from './owner-routes.js'
export { ownedDevice, ownedDevices } from './owner-scope.js'
export { tokenRoutes } from './token-routes.js'
