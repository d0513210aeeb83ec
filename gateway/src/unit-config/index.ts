/** The unit-config feature's public surface: other features import only this file. */
export { UNIT_CONFIG_SCHEMA } from './config-table.js'
export { unitConfigRoutes } from './routes.js'
export { type ConfigTarget, UnitConfigs } from './unit-configs.js'
