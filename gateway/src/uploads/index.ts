/** The uploads feature's public surface: other features import only this file. */
export { hashFile } from './partial-file.js'
export { ResumableUploads, redoCommit, type UploadTarget, type WriterHold } from './resumable-uploads.js'
export type { UploadRange } from './upload-headers.js'
export { closeConnectionsOnShutdown, resumableUploadRoutes } from './upload-routes.js'
export { CLUSTER_WRITER_LEASE_MS, type LeaseRow, WriterLeases } from './writer-lease.js'
