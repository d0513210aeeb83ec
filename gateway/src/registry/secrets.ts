import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const scryptAsync = promisify(scrypt) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>

/**
 * Device secrets are 256 random bits, so brute force is out of reach whatever
 * the hash costs: the work factor that protects human passwords buys nothing
 * here. scrypt still keeps a stolen database from yielding usable secrets,
 * and its cost is kept low (N=2^8, about 0.4 ms) because after a gateway
 * restart every unit's first connection needs one check: 19,000 units at
 * N=2^10 (1.7 ms) took half a minute of CPU on two cores. The parameters are
 * stored with each hash, so they can change without breaking old ones.
 */
const N = 256
const R = 8
const P = 1
const KEYLEN = 32

export function generateSecret(): string {
  return randomBytes(32).toString('base64url')
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scryptAsync(secret, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 })
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string]
  const expected = Buffer.from(key, 'base64url')
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  })
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** Tokens are random too: a fast digest is enough at rest, compared in constant time. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Keyed digest for the in-memory auth cache; the key lives only in this process. */
export function cacheDigest(key: Buffer, secret: string): Buffer {
  return createHmac('sha256', key).update(secret).digest()
}

export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
