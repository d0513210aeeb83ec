import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { type EvidenceKey, EvidenceKeys } from '@doorstep/proto'
import { fingerprintOf, publicPemOf, signBytes } from './signing.js'

/** Where the keys live under the data dir. */
export function evidenceDir(dataDir: string): string {
  return path.join(dataDir, 'evidence')
}

const PRIVATE_FILE = 'key.pem'
/** Every public key this gateway has signed with, current and retired: a rotation never drops one. */
const RING_FILE = 'keys.json'

function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = fs.openSync(tmp, 'w', mode)
  try {
    fs.writeSync(fd, data)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  // The mode given to open() is masked by the umask; the private key must be 0600 whatever it is.
  fs.chmodSync(tmp, mode)
  fs.renameSync(tmp, file)
}

/**
 * The gateway's Ed25519 evidence key, which signs export manifests and log
 * checkpoints, and the ring of its public keys. The private key is made on
 * first start (`<dataDir>/evidence/key.pem`, mode 0600) unless a key file is
 * supplied (`DOORSTEP_EVIDENCE_KEY_FILE`, PKCS#8 PEM). When the key changes
 * (`rotate()`, or another supplied file) the old public key stays in the ring
 * as `retired`, so what it signed still verifies. The private key never leaves
 * this object but as a signature.
 */
export class EvidenceKeyring {
  readonly #dir: string
  readonly #keyFile: string | undefined
  readonly #now: () => number
  readonly #warn: (msg: string) => void
  readonly #label: string
  #private: KeyObject | null = null
  #ring: EvidenceKey[] = []

  constructor(opts: {
    dataDir: string
    keyFile?: string | undefined
    now?: () => number
    warn?: (msg: string) => void
    /** Another key of the same kind in its own folder (the firmware key); default `<dataDir>/evidence`. */
    dir?: string
    /** What the messages call it: `evidence` (default), `firmware`. */
    label?: string
  }) {
    this.#dir = opts.dir ?? evidenceDir(opts.dataDir)
    this.#label = opts.label ?? 'evidence'
    this.#keyFile = opts.keyFile
    this.#now = opts.now ?? Date.now
    this.#warn = opts.warn ?? (() => {})
  }

  /** Loads (or, the first time, generates) the key; adds it to the ring if it is new. */
  load(): void {
    fs.mkdirSync(this.#dir, { recursive: true })
    this.#ring = readRing(this.#dir)
    const file = this.#keyFile ?? path.join(this.#dir, PRIVATE_FILE)
    let pem: string
    if (fs.existsSync(file)) {
      // Whoever can read the key can sign as the gateway: say so rather than refuse (the operator decides).
      if ((fs.statSync(file).mode & 0o077) !== 0) {
        this.#warn(`${this.#label} key file ${file} can be read by other users than its owner; chmod 600 it`)
      }
      pem = fs.readFileSync(file, 'utf8')
    } else if (this.#keyFile) {
      throw new Error(`${this.#label} key file ${this.#keyFile} does not exist`)
    } else {
      pem = generatePem()
      writeAtomic(file, pem, 0o600)
    }
    let key: KeyObject
    try {
      key = createPrivateKey(pem)
    } catch {
      // Never echo the file's content: it is a private key.
      throw new Error(`${this.#label} key file ${file} is not a PEM private key`)
    }
    if (key.asymmetricKeyType !== 'ed25519')
      throw new Error(`${this.#label} key file ${file} is not an Ed25519 key`)
    this.#private = key
    this.#adopt(key)
  }

  /** A new key signs from now on; the old one's public key stays in the ring. Only for a generated key. */
  rotate(): EvidenceKey {
    if (this.#keyFile) {
      throw new Error(
        'the evidence key is supplied by DOORSTEP_EVIDENCE_KEY_FILE: replace that file to rotate',
      )
    }
    const pem = generatePem()
    writeAtomic(path.join(this.#dir, PRIVATE_FILE), pem, 0o600)
    const key = createPrivateKey(pem)
    this.#private = key
    return this.#adopt(key)
  }

  get fingerprint(): string {
    return this.current.fingerprint
  }

  get current(): EvidenceKey {
    const c = this.#ring.find((k) => k.state === 'current')
    if (!c) throw new Error('evidence keys are not loaded')
    return c
  }

  /** The current key first, then the retired ones, newest first. */
  list(): EvidenceKey[] {
    return [...this.#ring].sort((a, b) =>
      a.state === b.state ? b.createdAt - a.createdAt : a.state === 'current' ? -1 : 1,
    )
  }

  /** base64url Ed25519 signature with the current key. */
  sign(data: Buffer | string): string {
    if (!this.#private) throw new Error('evidence keys are not loaded')
    return signBytes(this.#private, data)
  }

  #adopt(key: KeyObject): EvidenceKey {
    const fingerprint = fingerprintOf(key)
    const before = JSON.stringify(this.#ring)
    for (const k of this.#ring) k.state = k.fingerprint === fingerprint ? 'current' : 'retired'
    let entry = this.#ring.find((k) => k.fingerprint === fingerprint)
    if (!entry) {
      entry = {
        fingerprint,
        alg: 'Ed25519',
        publicKey: publicPemOf(key),
        state: 'current',
        createdAt: this.#now(),
      }
      this.#ring.push(entry)
    }
    const ring = `${JSON.stringify({ keys: this.#ring }, null, 2)}\n`
    if (JSON.stringify(this.#ring) !== before) writeAtomic(path.join(this.#dir, RING_FILE), ring, 0o644)
    return entry
  }
}

function generatePem(): string {
  const { privateKey } = generateKeyPairSync('ed25519')
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

/** The public ring as stored; empty before the first key. */
export function readRing(dir: string): EvidenceKey[] {
  const file = path.join(dir, RING_FILE)
  if (!fs.existsSync(file)) return []
  const parsed = EvidenceKeys.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')))
  if (!parsed.success) throw new Error(`${file} is not a list of evidence keys`)
  return parsed.data.keys
}
