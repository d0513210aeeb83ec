import { Command, type CommandAck, type ReleasePolicy, type UpdateCommand, Uuid } from '@doorstep/proto'
import type { ClipFile } from './clips.js'
import { causeOf, countError, type FleetStats } from './stats.js'
import type { ClipUploader, UploadContext } from './uploader.js'

/**
 * What a unit does with a `cam/{id}/cmd` message, as a pure decision (the
 * unit then sends the acks and starts the upload). Commands are validated
 * with proto's `Command` schema before anything is done about them.
 */
export type AckBody = Omit<CommandAck, 'v' | 'ts'>

export type CommandDecision =
  /** Nothing to answer: not JSON, no usable cmdId, or a QoS 1 redelivery of the last command. */
  | { outcome: 'ignored'; invalid: boolean }
  /** Answered at once (ping, refusal, invalid command with an id). */
  | { outcome: 'answered'; counter: 'ping' | 'refused' | 'invalid'; ack: AckBody; cmdId: string }
  /** A pull to carry out: `accepted` first, then the upload. */
  | { outcome: 'pull'; ack: AckBody; cmdId: string; uploadPath: string }
  /** A firmware update to carry out (firmware.ts): `accepted` first, then its own reports. */
  | { outcome: 'update'; ack: AckBody; cmdId: string; cmd: UpdateCommand }

export function decideCommand(
  payload: Buffer,
  releasePolicy: ReleasePolicy,
  lastCmdId: string | null,
): CommandDecision {
  let raw: unknown
  try {
    raw = JSON.parse(payload.toString('utf8'))
  } catch {
    return { outcome: 'ignored', invalid: true }
  }
  const parsed = Command.safeParse(raw)
  if (!parsed.success) {
    // Refuse it if it at least says which command it was; otherwise there is no one to answer.
    const cmdId = Uuid.safeParse((raw as { cmdId?: unknown } | null)?.cmdId)
    if (!cmdId.success) return { outcome: 'ignored', invalid: true }
    const i = parsed.error.issues[0]
    const reason = `invalid command: ${i ? `${i.path.join('.') || '(payload)'}: ${i.message}` : 'schema'}`
    return {
      outcome: 'answered',
      counter: 'invalid',
      cmdId: cmdId.data,
      ack: { cmdId: cmdId.data, status: 'refused', reason: reason.slice(0, 200) },
    }
  }
  const cmd = parsed.data
  // An update is sent again with its cmdId when the unit comes back mid-download: the updater resumes it.
  if (cmd.action === 'update')
    return { outcome: 'update', cmdId: cmd.cmdId, cmd, ack: { cmdId: cmd.cmdId, status: 'accepted' } }
  if (cmd.cmdId === lastCmdId) return { outcome: 'ignored', invalid: false }
  if (cmd.action === 'ping')
    return {
      outcome: 'answered',
      counter: 'ping',
      cmdId: cmd.cmdId,
      ack: { cmdId: cmd.cmdId, status: 'done' },
    }
  const refuse = (reason: string): CommandDecision => ({
    outcome: 'answered',
    counter: 'refused',
    cmdId: cmd.cmdId,
    ack: { cmdId: cmd.cmdId, status: 'refused', reason },
  })
  // The release policy is agreed with the homeowner at installation; a `never` unit keeps its footage,
  // except when the gateway's pull carries a legal order an admin recorded (proto: PullCommand.legalOrder).
  if (releasePolicy === 'never' && !cmd.legalOrder) {
    return refuse('the owner does not release footage (policy never)')
  }
  if (cmd.to <= cmd.from) return refuse('empty time window')
  return {
    outcome: 'pull',
    cmdId: cmd.cmdId,
    uploadPath: cmd.uploadPath,
    ack: { cmdId: cmd.cmdId, status: 'accepted' },
  }
}

export interface UploadJob {
  uploader: ClipUploader
  runUpload: <T>(fn: () => Promise<T>) => Promise<T>
  stats: FleetStats
  /** Event id or command id: names the clip on the gateway. */
  id: string
  clip: ClipFile
  ctx: UploadContext
  /** For a pull: progress in quarters, then `done` or `failed`. Absent for an event's own clip. */
  ack?: (a: AckBody) => void
}

/** Runs one upload under the fleet's limit and accounts for it. */
export function runUploadJob(job: UploadJob): void {
  const { clip, ack, stats } = job
  const cmdId = job.id
  let quarter = -1
  const onProgress = (bytes: number) => {
    const q = Math.min(3, Math.floor((4 * bytes) / clip.bytes))
    if (ack && q > quarter && bytes < clip.bytes) {
      quarter = q
      ack({ cmdId, status: 'uploading', bytes })
    }
  }
  job
    .runUpload(() => job.uploader.upload(job.id, clip, onProgress, job.ctx))
    .then(
      () => {
        stats.clips++
        stats.clipBytes += clip.bytes
        ack?.({ cmdId, status: 'done', bytes: clip.bytes })
      },
      (err: Error) => {
        stats.uploadFailures++
        countError(stats, `upload: ${causeOf(err)}`)
        ack?.({ cmdId, status: 'failed', reason: String(err.message).slice(0, 200) })
      },
    )
}
