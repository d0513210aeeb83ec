/** The unit-config feature's public surface: other features import only this file. */
export { unitConfigRoutes } from './routes.js'
export { type ConfigTarget, UnitConfigs } from './unit-configs.js'
