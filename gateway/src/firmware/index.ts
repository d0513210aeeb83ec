/** The firmware feature's public surface: other features import only this file. */
export { Firmware, firmwareKeyDir } from './firmware.js'
export { FIRMWARE_SCHEMA } from './firmware-migrations.js'
export { firmwareRoutes } from './routes.js'
