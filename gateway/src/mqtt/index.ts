/** The mqtt feature's public surface: other features import only this file. */
export { type ForwardFilter, MqttBroker } from './broker.js'
export { DISCONNECT_REASONS } from './disconnects.js'
