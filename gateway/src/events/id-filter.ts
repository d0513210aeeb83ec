/**
 * A Bloom filter over the id keys of one month's events: before a new event
 * is stored, the months whose filter says "maybe" are searched for its id (a
 * unit retrying an event it sent weeks ago must still be recognised), and
 * the others are not, so a new event costs no page reads in months of old
 * indexes. About 10 bits per id with 7 probes: under 1% of new events search
 * a month they are not in.
 */
const BITS_PER_ID = 10
const PROBES = 7
const TWO_32 = 4_294_967_296

export class IdFilter {
  /** The ids it was sized for; past them the false-positive rate climbs and it should be rebuilt larger. */
  readonly capacity: number
  readonly #bits: Uint32Array
  readonly #size: number

  constructor(capacity: number, bits?: Uint8Array) {
    this.capacity = capacity
    const words = Math.max(32, Math.ceil((capacity * BITS_PER_ID) / 32))
    this.#bits = new Uint32Array(words)
    if (bits) {
      if (bits.byteLength !== words * 4) throw new Error('filter bits do not match its capacity')
      new Uint8Array(this.#bits.buffer).set(bits)
    }
    this.#size = words * 32
  }

  add(key: number): void {
    const [a, b] = hashes(key)
    let h = a
    for (let i = 0; i < PROBES; i++) {
      const bit = (h >>> 0) % this.#size
      this.#bits[bit >>> 5] = (this.#bits[bit >>> 5] as number) | (1 << (bit & 31))
      h = (h + b) | 0
    }
  }

  mayHave(key: number): boolean {
    const [a, b] = hashes(key)
    let h = a
    for (let i = 0; i < PROBES; i++) {
      const bit = (h >>> 0) % this.#size
      if (((this.#bits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false
      h = (h + b) | 0
    }
    return true
  }

  bytes(): Uint8Array {
    return new Uint8Array(this.#bits.buffer, this.#bits.byteOffset, this.#bits.byteLength)
  }
}

/**
 * Two 32-bit hashes of a 48-bit key (murmur3's finaliser on each half, mixed).
 * The key is the id's leading bits, random for the UUIDs units make; the mix
 * spreads ids from firmware that makes them some other way.
 */
function hashes(key: number): [number, number] {
  const lo = (key % TWO_32) | 0
  const hi = Math.floor(key / TWO_32) | 0
  return [fmix(lo ^ Math.imul(hi, 0x9e3779b1)), fmix(hi ^ Math.imul(lo, 0x85ebca6b)) | 1]
}

function fmix(x: number): number {
  let h = x
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}
