/** The notify feature's public surface: other features import only this file. */
export { Notifier } from './notifier.js'
export { NOTIFY_SCHEMA } from './notify-store.js'
export { notifyRoutes } from './routes.js'
export { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './webhook.js'
