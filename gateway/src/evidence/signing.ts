import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'

/**
 * Ed25519 signatures and key fingerprints, pure: the gateway signs with them
 * and `doorstep verify` checks with them, away from any gateway. A key's
 * fingerprint is sha256 of its public key's SPKI DER encoding, in lowercase
 * hex (the same as `openssl pkey -pubin -outform DER | sha256sum`).
 */

export function fingerprintOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  const der = pub.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('hex')
}

export function publicPemOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return pub.export({ type: 'spki', format: 'pem' }).toString()
}

/** Ed25519 signs the message itself (no pre-hash: RFC 8032 §5.1, "PureEdDSA"), hence `null`. */
export function signBytes(privateKey: KeyObject, data: Buffer | string): string {
  return sign(null, Buffer.from(data), privateKey).toString('base64url')
}

/** False for a bad signature, a key that is not Ed25519, or a signature that is not base64url. */
export function verifyBytes(publicKey: KeyObject, data: Buffer | string, signature: string): boolean {
  if (publicKey.asymmetricKeyType !== 'ed25519') return false
  if (!/^[A-Za-z0-9_-]+$/.test(signature)) return false
  try {
    return verify(null, Buffer.from(data), publicKey, Buffer.from(signature, 'base64url'))
  } catch {
    return false
  }
}

/** A public key from PEM (SPKI, or a private key's PEM, whose public half is taken); null if it is not one. */
export function publicKeyFromPem(pem: string): KeyObject | null {
  try {
    const k = createPublicKey(pem)
    return k.asymmetricKeyType === 'ed25519' ? k : null
  } catch {
    return null
  }
}
