/**
 * The Node flags the gateway runs with (package.json `start` and `demo`, the
 * Dockerfile; see gateway/README.md), so that a bench measures the gateway
 * as it is run.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64']
