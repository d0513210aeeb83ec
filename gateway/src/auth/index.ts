/** The auth feature's public surface: other features import only this file. */
export { DeviceRequests, decorateDevice, deviceAuth } from './device-auth.js'
export { type Access, publicScope, ROLES, rolesPlugin } from './roles.js'
export { AuthThrottle } from './throttle.js'
export { type Principal, TokenStore } from './tokens.js'
