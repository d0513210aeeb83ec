// Entry of the spool's worker thread. Workers do not inherit the TypeScript
// loader of the main thread, so this registers tsx here before loading the
// worker itself; the same file serves the gateway, the tests and the benches.
import { register } from 'tsx/esm/api'

register()
await import('./spool-worker.ts')
