/** The evidence feature's public surface: other features and the CLI import only this file. */
export {
  CHECKPOINT_FILE,
  type ChainHead,
  Checkpointer,
  checkpointsInDb,
  checkpointsInFile,
  EVIDENCE_SCHEMA,
} from './checkpoints.js'
export { EvidenceKeyring, evidenceDir, readRing } from './keys.js'
export { runKeysCli } from './keys-cli.js'
export { type LogSources, logSourcesFrom, verifyLogs } from './log-verify.js'
export { evidenceRoutes } from './routes.js'
export { fingerprintOf, publicKeyFromPem, publicPemOf, signBytes, verifyBytes } from './signing.js'
