/** The mqtt feature's public surface: other features import only this file. */
export { type ForwardFilter, MqttBroker } from './broker.js'
export { type CommandChannel, CommandListeners } from './command-listeners.js'
export { DISCONNECT_REASONS } from './disconnects.js'
export { openRedisPair, REDIS_RECONNECT, redisTarget } from './redis-share.js'
