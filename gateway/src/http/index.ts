/** The http feature's public surface: other features import only this file. */
export { closeHttps, listenHttps } from './https-listener.js'
export { opsRoutes } from './ops-routes.js'
export { buildHttp } from './server.js'
