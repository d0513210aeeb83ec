// Entry of the page-size conversion's worker thread. Workers do not inherit the TypeScript loader of
// the main thread, so this registers tsx here before loading the worker itself.
import { register } from 'tsx/esm/api'

register()
await import('./repage-worker.ts')
