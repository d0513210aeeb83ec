import { z } from 'zod'
import { ClipMedia, EventView, Hold } from './events.js'
import { ReleasePolicy, Role } from './http.js'
import { DeviceId, District, EpochMs, Latitude, Longitude, Sha256Hex, Uuid } from './ids.js'

/**
 * HTTP bodies of the investigators' features: people's tokens, cases, pulls
 * of footage from units, owners' consent, the audit log and the evidence
 * export (its `manifest.json` and custody log).
 */

/** A time in a JSON body: ms since the epoch or an ISO 8601 date-time with offset. */
export const WhenMs = z.union([EpochMs, z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))])

/** Longest window a case may cover: a pull asks a unit for all of it. */
export const MAX_CASE_WINDOW_MS = 7 * 24 * 3_600_000

// ---- people's tokens --------------------------------------------------------------------------

export const TokenCreate = z
  .object({
    /** Who holds it: a person or a system (e.g. `prometheus`). */
    name: z.string().trim().min(1).max(100),
    role: Role,
    /** Required for `owner` tokens: the contact their units are registered under. */
    ownerContact: z.string().trim().min(1).max(200).optional(),
  })
  .refine((t) => t.role !== 'owner' || t.ownerContact !== undefined, {
    message: 'an owner token needs ownerContact',
    path: ['ownerContact'],
  })
export type TokenCreate = z.infer<typeof TokenCreate>

/** A token as listed: never the token itself, which is shown once at issue and stored only as a digest. */
export const TokenView = z.object({
  id: z.number().int().positive(),
  name: z.string(),
  role: Role,
  ownerContact: z.string().nullable(),
  createdAt: EpochMs,
  revokedAt: EpochMs.nullable(),
})
export type TokenView = z.infer<typeof TokenView>

export const TokenIssued = TokenView.extend({ token: z.string() })
export type TokenIssued = z.infer<typeof TokenIssued>

export const Me = z.object({
  tokenId: z.number().int().nonnegative(),
  name: z.string(),
  role: Role,
  ownerContact: z.string().nullable(),
})
export type Me = z.infer<typeof Me>

export const TokenList = z.object({ tokens: z.array(TokenView) })

/** `DELETE /api/v1/tokens/:id` */
export const TokenParams = z.object({ id: z.coerce.number().int().positive() })

/** `POST /api/v1/tokens/retire-bootstrap`: since when `DOORSTEP_ADMIN_TOKEN` is ignored. */
export const BootstrapRetired = z.object({ retiredAt: EpochMs })
export type BootstrapRetired = z.infer<typeof BootstrapRetired>

// ---- cases ------------------------------------------------------------------------------------

/** Where to look: a district, a circle around a point (great-circle metres), or named units. */
export const CaseArea = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('district'), district: District }),
  z.object({
    kind: z.literal('radius'),
    lat: Latitude,
    lon: Longitude,
    radiusM: z.number().positive().max(100_000),
  }),
  z.object({ kind: z.literal('devices'), ids: z.array(DeviceId).min(1).max(1000) }),
])
export type CaseArea = z.infer<typeof CaseArea>

const windowAndArea = { from: WhenMs, to: WhenMs, area: CaseArea }

/** A case window runs forward and covers at most 7 days. */
function checkWindow<T extends z.ZodType<{ from: number; to: number }>>(schema: T) {
  return schema
    .refine((c) => c.from < c.to, { message: 'from must be before to', path: ['to'] })
    .refine((c) => c.to - c.from <= MAX_CASE_WINDOW_MS, {
      message: 'the window may cover at most 7 days',
      path: ['to'],
    })
}

export const CaseCreate = checkWindow(
  z.object({
    /** The case number the police file it under; unique. */
    number: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/, 'letters, digits, ".", "_", "/", "-"; at most 64'),
    reason: z.string().trim().min(1).max(1000),
    ...windowAndArea,
  }),
)
export type CaseCreate = z.infer<typeof CaseCreate>

/** `POST /api/v1/cases/preview`: what a case with this window and area would cover, before opening it. */
export const CasePreviewQuery = checkWindow(z.object(windowAndArea))
export type CasePreviewQuery = z.infer<typeof CasePreviewQuery>

export const CasePreview = z.object({
  /** Units in the area, and how many of them each release policy covers. */
  devices: z.number().int().nonnegative(),
  byPolicy: z.object({
    always: z.number().int().nonnegative(),
    ask: z.number().int().nonnegative(),
    never: z.number().int().nonnegative(),
  }),
  /** Of those units, how many are online now (a pull reaches them at once). */
  online: z.number().int().nonnegative(),
  /** Their events overlapping the window, and how many of those have a stored clip. */
  events: z.number().int().nonnegative(),
  withClip: z.number().int().nonnegative(),
})
export type CasePreview = z.infer<typeof CasePreview>

export const CaseState = z.enum(['open', 'closed'])

/** `GET /api/v1/cases?state=` */
export const CasesQuery = z.object({ state: CaseState.optional() })

/** `/api/v1/cases/:id/…` */
export const CaseParams = z.object({ id: Uuid })
/** `/api/v1/pulls/:id/…` */
export const PullParams = z.object({ id: Uuid })
/** `POST /api/v1/my/consents/:pullId` */
export const ConsentParams = z.object({ pullId: Uuid })

export const CaseView = z
  .object({
    id: Uuid,
    number: z.string(),
    reason: z.string(),
    from: EpochMs,
    to: EpochMs,
    area: CaseArea,
    state: CaseState,
    createdBy: z.string(),
    createdAt: EpochMs,
    closedAt: EpochMs.nullable(),
    closedBy: z.string().nullable(),
  })
  .meta({ id: 'CaseView' })
export type CaseView = z.infer<typeof CaseView>

// ---- consent ----------------------------------------------------------------------------------

/**
 * Why footage of a unit may (or may not) be released for a case: the unit's
 * release policy, the owner's decision, or an admin's record of a legal order.
 */
export const ConsentBasis = z.enum([
  'policy-always',
  'owner-approved',
  'owner-declined',
  'policy-never',
  'legal-order',
])
export type ConsentBasis = z.infer<typeof ConsentBasis>

export const ConsentRecord = z
  .object({
    id: z.number().int().positive(),
    basis: ConsentBasis,
    granted: z.boolean(),
    /** Who decided (a token's name and role, or `release policy`), and when. */
    decidedBy: z.string(),
    decidedAt: EpochMs,
    legalOrder: z.string().nullable(),
    note: z.string().nullable(),
  })
  .meta({ id: 'ConsentRecord' })
export type ConsentRecord = z.infer<typeof ConsentRecord>

export const ConsentDecision = z.object({
  decision: z.enum(['approve', 'decline']),
  note: z.string().trim().max(500).optional(),
})
export type ConsentDecision = z.infer<typeof ConsentDecision>

export const LegalOrder = z.object({
  /** The court or prosecutor's order number, as written on the order. */
  orderNumber: z.string().trim().min(1).max(100),
  note: z.string().trim().max(500).optional(),
})
export type LegalOrder = z.infer<typeof LegalOrder>

/** What an owner sees of a request for their unit's footage. */
export const ConsentRequest = z.object({
  pullId: Uuid,
  caseNumber: z.string(),
  reason: z.string(),
  from: EpochMs,
  to: EpochMs,
  deviceId: DeviceId,
  address: z.string(),
  requestedBy: z.string(),
  requestedAt: EpochMs,
  /** `waiting` for the owner; otherwise decided (by the owner, or overridden by a legal order). */
  state: z.enum(['waiting', 'approved', 'declined', 'legal-order']),
  decidedAt: EpochMs.nullable(),
  /** Who decided (the owner's token name and role, or the admin who recorded a legal order). */
  decidedBy: z.string().nullable(),
  /** The decider's note, if they left one. */
  note: z.string().nullable(),
})
export type ConsentRequest = z.infer<typeof ConsentRequest>

export const ConsentRequests = z.object({ requests: z.array(ConsentRequest) })
export type ConsentRequests = z.infer<typeof ConsentRequests>

// ---- pulls ------------------------------------------------------------------------------------

/**
 * Per-unit progress of a pull: `awaiting-consent` (an `ask` owner decides),
 * `pending` (waiting for the district's upload budget, or sent and not yet
 * accepted: see `sentAt`), `offline` (waits for the unit to reconnect),
 * `uploading` (accepted; `bytes` so far), `done` (stored and verified),
 * `refused` (policy, owner or unit said no; see `reason`), `failed`.
 */
export const PullState = z.enum([
  'awaiting-consent',
  'pending',
  'offline',
  'uploading',
  'done',
  'refused',
  'failed',
])
export type PullState = z.infer<typeof PullState>

export const PullsCreate = z.object({
  /** Units of the case to ask; all of the case's units when absent. */
  devices: z.array(DeviceId).min(1).max(1000).optional(),
})
export type PullsCreate = z.infer<typeof PullsCreate>

export const PullView = z
  .object({
    /** Also the `cmdId` of the `pull` command sent to the unit. */
    id: Uuid,
    caseId: Uuid,
    deviceId: DeviceId,
    district: District,
    from: EpochMs,
    to: EpochMs,
    state: PullState,
    /** Bytes of the recording the gateway holds (or the unit reported) so far. */
    bytes: z.number().int().nonnegative(),
    /** Size of the recording once the unit's first upload request named it. */
    total: z.number().int().positive().nullable(),
    reason: z.string().nullable(),
    requestedBy: z.string(),
    requestedAt: EpochMs,
    sentAt: EpochMs.nullable(),
    /** How many times the command was sent (again after each reconnect). */
    sends: z.number().int().nonnegative(),
    acceptedAt: EpochMs.nullable(),
    finishedAt: EpochMs.nullable(),
    consent: ConsentRecord.nullable(),
    /** The stored recording, once `done`. */
    recording: ClipMedia.nullable(),
  })
  .meta({ id: 'PullView' })
export type PullView = z.infer<typeof PullView>

export const PullList = z.object({ pulls: z.array(PullView) })
export type PullList = z.infer<typeof PullList>

/** Answer to an owner's decision: where the pull stands now. */
export const ConsentDecided = z.object({ pullId: Uuid, state: PullState, consent: ConsentRecord.nullable() })

/** Answer to a pull upload `PUT`: `partial` until every byte arrived, then `stored`. */
export const PullUploadResult = z.object({
  pullId: Uuid,
  state: z.enum(['partial', 'stored']),
  received: z.number().int().nonnegative(),
  total: z.number().int().positive(),
  sha256: Sha256Hex.optional(),
})
export type PullUploadResult = z.infer<typeof PullUploadResult>

export const CaseDevice = z.object({
  id: DeviceId,
  district: District,
  address: z.string(),
  lat: Latitude,
  lon: Longitude,
  /** Distance from the centre of a `radius` area, metres; null for other areas. */
  distanceM: z.number().nonnegative().nullable(),
  releasePolicy: ReleasePolicy,
  consent: ConsentRecord.nullable(),
  pull: PullView.nullable(),
})
export type CaseDevice = z.infer<typeof CaseDevice>

export const CaseDetail = z.object({
  case: CaseView,
  devices: z.array(CaseDevice),
  /** Events of the case's units in the window, newest first. */
  events: z.array(EventView),
  holds: z.array(Hold),
})
export type CaseDetail = z.infer<typeof CaseDetail>

export const CaseList = z.object({ cases: z.array(CaseView) })

// ---- hash chains: audit log and custody log ---------------------------------------------------

/**
 * One link of a hash chain. `hash` = sha256 hex of `prevHash` followed by the
 * canonical JSON (keys sorted, no spaces) of every other field; the first
 * entry's `prevHash` is 64 zeros.
 */
const ChainLink = {
  seq: z.number().int().positive(),
  at: EpochMs,
  /** Who did it: a token's name and role, `device:{id}`, `gateway` or `cli:{user}`. */
  actor: z.string(),
  action: z.string(),
  details: z.record(z.string(), z.unknown()),
  prevHash: Sha256Hex,
  hash: Sha256Hex,
}

export const AuditEntry = z
  .object({
    ...ChainLink,
    /** What it was done to, e.g. `clip:{eventId}`, `case:{id}`, `pull:{id}`, `token:{id}`. */
    subject: z.string(),
  })
  .meta({ id: 'AuditEntry' })
export type AuditEntry = z.infer<typeof AuditEntry>

/** `GET /api/v1/audit`: every filter given must match; `from` and `to` both include their own millisecond. */
export const AuditQuery = z
  .object({
    /** Entries after this sequence number (for paging). */
    after: z.coerce.number().int().nonnegative().default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    action: z.string().max(64).optional(),
    subject: z.string().max(200).optional(),
    actor: z.string().max(200).optional().describe('exactly as recorded, e.g. `Ann (admin #1)`'),
    from: z.coerce
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('entries at or after this time (ms since the epoch)'),
    to: z.coerce
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('entries at or before this time (ms since the epoch)'),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'to must not be before from',
    path: ['to'],
  })
export type AuditQuery = z.infer<typeof AuditQuery>

export const ChainProblem = z.object({ seq: z.number().int(), problem: z.string() })
export type ChainProblem = z.infer<typeof ChainProblem>

export const ChainReport = z
  .object({
    ok: z.boolean(),
    entries: z.number().int().nonnegative(),
    /** Hash of the last entry: note it down to detect a later truncation. */
    head: Sha256Hex,
    problems: z.array(ChainProblem),
  })
  .meta({ id: 'ChainReport' })
export type ChainReport = z.infer<typeof ChainReport>

/**
 * A signed checkpoint of a hash chain: at `at`, the chain (`audit`, or `custody:{caseId}`) had `entries`
 * entries and its last hash was `head`. `signature` is the evidence key's Ed25519 signature (base64url)
 * of the canonical JSON of every other field. Kept in SQLite and, one a line, in the append-only file
 * `<dataDir>/evidence/checkpoints.jsonl`, so a log rewritten or cut inside the database no longer
 * matches its checkpoints.
 */
export const Checkpoint = z.object({
  chain: z.string(),
  entries: z.number().int().positive(),
  head: Sha256Hex,
  at: EpochMs,
  keyFingerprint: Sha256Hex,
  signature: z.string(),
})
export type Checkpoint = z.infer<typeof Checkpoint>

/** One chain's check against itself and its checkpoints. */
export const LogCheck = ChainReport.extend({
  /** Checkpoints of this chain that were checked, and the last one's time (null: none yet). */
  checkpoints: z.number().int().nonnegative(),
  lastCheckpointAt: EpochMs.nullable(),
})
export type LogCheck = z.infer<typeof LogCheck>

/**
 * `GET /api/v1/audit/verify`: the audit log's chain (the top-level fields, as before) and every case's
 * custody log, each against its signed checkpoints; `problems` of checkpoints themselves (a bad
 * signature, a checkpoint in one store and not the other) are in `checkpointProblems`.
 */
export const LogsReport = LogCheck.extend({
  custody: z.array(LogCheck.extend({ caseId: Uuid })),
  checkpointProblems: z.array(z.string()),
}).meta({ id: 'LogsReport' })
export type LogsReport = z.infer<typeof LogsReport>

/** `GET /api/v1/audit`: a page, oldest first; pass `next` back as `after` for the next one. */
export const AuditPage = z.object({
  entries: z.array(AuditEntry),
  next: z.number().int().positive().nullable(),
})

export const CustodyEntry = z.object({ ...ChainLink, caseId: Uuid })
export type CustodyEntry = z.infer<typeof CustodyEntry>

/** `GET /api/v1/cases/:id/custody`: the case's custody log and its chain check. */
export const CustodyReport = z.object({ entries: z.array(CustodyEntry), verify: ChainReport })
export type CustodyReport = z.infer<typeof CustodyReport>

// ---- the evidence export ----------------------------------------------------------------------

export const EVIDENCE_FORMAT = 'doorstep-evidence/1'

export const ManifestFile = z.object({
  /** Path inside the ZIP. */
  path: z.string(),
  sha256: Sha256Hex,
  bytes: z.number().int().nonnegative(),
  kind: z.enum(['clip', 'thumbnail']),
  /** For a thumbnail: the path of the clip it shows. */
  of: z.string().nullable(),
  deviceId: DeviceId,
  district: District,
  /** The time the recording covers (event start to end, or the pull window), gateway clock. */
  window: z.object({ from: EpochMs, to: EpochMs }),
  /** When the gateway stored the file. */
  receivedAt: EpochMs,
  obtained: z.object({
    /** `event-upload`: the unit sent it after a detection; `pull`: it answered the case's pull. */
    how: z.enum(['event-upload', 'pull']),
    eventId: Uuid.nullable(),
    pullId: Uuid.nullable(),
  }),
  consent: ConsentRecord,
  media: z
    .object({
      mime: z.string(),
      codec: z.string(),
      width: z.number(),
      height: z.number(),
      durationMs: z.number(),
    })
    .nullable(),
})
export type ManifestFile = z.infer<typeof ManifestFile>

export const Manifest = z.object({
  format: z.literal(EVIDENCE_FORMAT),
  case: CaseView,
  exportedAt: EpochMs,
  exportedBy: z.string(),
  files: z.array(ManifestFile),
  /** Units whose footage is not in the export, and why (no consent, nothing stored). */
  withheld: z.array(z.object({ deviceId: DeviceId, reason: z.string() })),
  custody: z.object({
    file: z.string(),
    entries: z.number().int().positive(),
    /** Hash of the custody log's last entry, the `case.exported` entry of this export. */
    head: Sha256Hex,
  }),
  /**
   * How to check this export: every file's sha256 must match; the custody log must chain; its last
   * entry must be this export's, whose `filesDigest` is sha256 of the canonical JSON of `files`.
   */
  verify: z.string(),
  /**
   * Fingerprint of the evidence key that signs this manifest (see `ManifestSignature`). Optional only
   * so that exports made before signing still parse; every signed export has it.
   */
  signedBy: z.string().optional(),
})
export type Manifest = z.infer<typeof Manifest>

// ---- evidence keys and signatures --------------------------------------------------------------

/** Ed25519 key fingerprint: sha256 of the public key's SPKI DER encoding, 64 lowercase hex digits. */
export const KeyFingerprint = Sha256Hex

export const EvidenceKey = z
  .object({
    fingerprint: KeyFingerprint,
    alg: z.literal('Ed25519'),
    /** The public key, SPKI, PEM. */
    publicKey: z.string(),
    /** `current` signs new exports and checkpoints; `retired` keys only verify older ones. */
    state: z.enum(['current', 'retired']),
    createdAt: EpochMs,
  })
  .meta({ id: 'EvidenceKey' })
export type EvidenceKey = z.infer<typeof EvidenceKey>

/** `GET /api/v1/evidence/keys`: the gateway's evidence keys, the current one first. */
export const EvidenceKeys = z.object({ keys: z.array(EvidenceKey) })
export type EvidenceKeys = z.infer<typeof EvidenceKeys>

export const SIGNATURE_FORMAT = 'doorstep-signature/1'

/**
 * `manifest.sig` in an export: an Ed25519 signature over the RFC 8785 canonical JSON of the whole
 * `manifest.json` value (which the gateway writes in exactly that form). The public key travels along
 * so that a verifier can check consistency; trust comes only from matching `keyFingerprint` against a
 * fingerprint or key the verifier already holds.
 */
export const ManifestSignature = z.object({
  format: z.literal(SIGNATURE_FORMAT),
  alg: z.literal('Ed25519'),
  keyFingerprint: KeyFingerprint,
  publicKey: z.string(),
  /** base64url (RFC 4648 §5, no padding) of the 64-byte signature. */
  signature: z.string(),
})
export type ManifestSignature = z.infer<typeof ManifestSignature>
