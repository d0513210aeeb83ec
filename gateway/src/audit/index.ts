/** The audit feature's public surface: other features import only this file. */
export { actorOf } from './actor.js'
export { AUDIT_SCHEMA, AUDIT_SCHEMA_POSTGRES, AuditLog, type AuditRecord } from './audit-log.js'
export {
  canonicalJson,
  GENESIS,
  type Link,
  linkHash,
  sha256Hex,
  verifyChain,
  verifyChainAsync,
} from './chain.js'
export { auditRoutes } from './routes.js'
