/** The cases feature's public surface: other features import only this file. */
export { CASES_SCHEMA } from './case-migrations.js'
export { Cases } from './cases.js'
export { consentRoutes } from './consent-routes.js'
export { CustodyLog } from './custody.js'
export { caseRoutes } from './routes.js'
export { pullUploadRoutes } from './upload-routes.js'
