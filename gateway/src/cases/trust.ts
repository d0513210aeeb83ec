import fs from 'node:fs'
import { EvidenceKeys } from '@doorstep/proto'
import { fingerprintOf, publicKeyFromPem } from '../evidence/index.js'

/** A key the person verifying trusts, and how they said so (shown in the report). */
export interface TrustedKey {
  fingerprint: string
  source: string
}

export class TrustArgumentError extends Error {}

const FINGERPRINT = /^(?:sha256:)?([0-9a-fA-F]{64})$/

/**
 * Turns each `--key` into trusted fingerprints: a fingerprint (64 hex digits,
 * optionally `sha256:` before), a PEM file (public or private Ed25519 key), or
 * the gateway's key URL (`…/api/v1/evidence/keys`), whose every key, current
 * and retired, is trusted. A URL that does not answer is a note, not an error:
 * verify works offline and then says the export is not authenticated.
 */
export async function resolveTrust(
  args: readonly string[],
  fetchTimeoutMs = 5000,
): Promise<{ keys: TrustedKey[]; notes: string[] }> {
  const keys: TrustedKey[] = []
  const notes: string[] = []
  for (const arg of args) {
    const fp = FINGERPRINT.exec(arg.trim())
    if (fp?.[1]) {
      keys.push({ fingerprint: fp[1].toLowerCase(), source: 'the fingerprint you gave (--key)' })
      continue
    }
    if (/^https?:\/\//.test(arg)) {
      try {
        const res = await fetch(arg, { signal: AbortSignal.timeout(fetchTimeoutMs) })
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
        const body = EvidenceKeys.parse(await res.json())
        for (const k of body.keys) {
          const pub = publicKeyFromPem(k.publicKey)
          // Trust the key as served, by its own fingerprint, not by the label next to it.
          if (pub)
            keys.push({
              fingerprint: fingerprintOf(pub),
              source: `the gateway's keys at ${arg} (${k.state})`,
            })
        }
      } catch (err) {
        notes.push(`could not get the gateway's keys from ${arg} (${(err as Error).message}); not trusted`)
      }
      continue
    }
    let pem: string
    try {
      pem = fs.readFileSync(arg, 'utf8')
    } catch {
      throw new TrustArgumentError(
        `--key ${arg}: not a fingerprint (64 hex digits), a URL, or a readable PEM file`,
      )
    }
    const pub = publicKeyFromPem(pem)
    if (!pub) throw new TrustArgumentError(`--key ${arg}: the file holds no Ed25519 key`)
    keys.push({ fingerprint: fingerprintOf(pub), source: `the key in ${arg}` })
  }
  return { keys, notes }
}
