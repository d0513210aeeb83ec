/** The http feature's public surface: other features import only this file. */
export { opsRoutes } from './ops-routes.js'
export { buildHttp } from './server.js'
