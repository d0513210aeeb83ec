/**
 * A Bloom filter over the id keys of one month's events: before a new event
 * is stored, the months whose filter says "maybe" are searched for its id (a
 * unit retrying an event it sent weeks ago must still be recognised), and
 * the others are not, so a new event costs no page reads in months of old
 * indexes. 14 bits per id with 9 probes: about 0.03% of new events search a
 * month they are not in, at the capacity a month's filter is made with. (10
 * bits and 7 probes, before a month came in parts, let 3.5% of new events
 * search a month of a year, and each such search is one per part.)
 */
const BITS_PER_ID = 14
const PROBES = 9
const TWO_32 = 4_294_967_296

export class IdFilter {
  /** The ids it was sized for; past them the false-positive rate climbs and it should be rebuilt larger. */
  readonly capacity: number
  readonly #bits: Uint32Array
  readonly #size: number

  constructor(capacity: number, bits?: Uint8Array) {
    this.capacity = capacity
    const words = wordsFor(capacity)
    this.#bits = new Uint32Array(words)
    if (bits) {
      if (bits.byteLength !== words * 4) throw new Error('filter bits do not match its capacity')
      new Uint8Array(this.#bits.buffer).set(bits)
    }
    this.#size = words * 32
  }

  /**
   * A filter read back from its bytes; null when they were written for another shape (by a version with
   * other bits per id), which the caller makes again from its table.
   */
  static read(capacity: number, bits: Uint8Array): IdFilter | null {
    return bits.byteLength === wordsFor(capacity) * 4 ? new IdFilter(capacity, bits) : null
  }

  add(key: number): void {
    const { a, b } = SCRATCH.of(key)
    let h = a
    for (let i = 0; i < PROBES; i++) {
      const bit = (h >>> 0) % this.#size
      this.#bits[bit >>> 5] = (this.#bits[bit >>> 5] as number) | (1 << (bit & 31))
      h = (h + b) | 0
    }
  }

  mayHave(key: number): boolean {
    return this.mayHaveHashed(SCRATCH.of(key))
  }

  /** `mayHave` with the key's hashes made once for all the months' filters (`KeyHashes`). */
  mayHaveHashed(k: KeyHashes): boolean {
    let h = k.a
    const b = k.b
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
 * spreads ids from firmware that makes them some other way. Kept in a reused
 * object rather than returned as a pair: every new event is probed against
 * each month's filter, and the pair was an allocation per month per event.
 */
export class KeyHashes {
  a = 0
  b = 0

  of(key: number): this {
    const lo = (key % TWO_32) | 0
    const hi = Math.floor(key / TWO_32) | 0
    this.a = fmix(lo ^ Math.imul(hi, 0x9e3779b1))
    this.b = fmix(hi ^ Math.imul(lo, 0x85ebca6b)) | 1
    return this
  }
}

const SCRATCH = new KeyHashes()

function wordsFor(capacity: number): number {
  return Math.max(32, Math.ceil((capacity * BITS_PER_ID) / 32))
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
