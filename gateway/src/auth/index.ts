/** The auth feature's public surface: other features import only this file. */
export { DeviceRequests, decorateDevice, deviceAuth } from './device-auth.js'
export { type Access, publicScope, ROLES, rolesPlugin } from './roles.js'
export { AuthThrottle } from './throttle.js'
export { type Principal, TOKENS_SCHEMA, TokenStore } from './tokens.js'
