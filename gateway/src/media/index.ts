/** The media feature's public surface: other features import only this file. */
export { NotAVideoError, type ProbeResult, probe } from './ffmpeg.js'
export { videoThumbnail } from './thumbnail.js'
export { WorkQueue } from './work-queue.js'
