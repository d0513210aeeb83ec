/** The clips feature's public surface: other features import only this file. */
export { CLIPS_SCHEMA } from './clip-table.js'
export { Clips } from './clips.js'
export { runClipsCli } from './clips-cli.js'
export { type ClipsCopy, copyClips } from './clips-copy.js'
export { holdRoutes } from './hold-routes.js'
export { parseRange } from './range.js'
export { clipRoutes } from './routes.js'
export { ClipStore } from './store.js'
