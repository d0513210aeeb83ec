/**
 * A batch body under construction: lines written straight into one growable
 * Buffer, newline-separated, so a batch of thousands of points is one
 * allocation rather than thousands of strings joined at the end. Buffers are
 * recycled through a small pool once their write has completed.
 */
export class LineBuffer {
  #buf: Buffer
  #len = 0
  #count = 0

  constructor(capacity = 1024 * 1024) {
    this.#buf = Buffer.allocUnsafe(capacity)
  }

  get count(): number {
    return this.#count
  }

  get byteLength(): number {
    return this.#len
  }

  append(line: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit; most lines are ASCII and fit far under that bound.
    const need = this.#len + line.length * 3 + 1
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2))
      this.#buf.copy(bigger, 0, 0, this.#len)
      this.#buf = bigger
    }
    if (this.#count > 0) this.#buf[this.#len++] = 0x0a
    this.#len += this.#buf.write(line, this.#len, 'utf8')
    this.#count++
  }

  /** The bytes written so far; valid until the buffer is reset. */
  view(): Buffer {
    return this.#buf.subarray(0, this.#len)
  }

  lines(): string[] {
    return this.#count === 0 ? [] : this.view().toString('utf8').split('\n')
  }

  reset(): void {
    this.#len = 0
    this.#count = 0
  }
}

export class LineBufferPool {
  readonly #free: LineBuffer[] = []
  readonly #max: number

  constructor(max = 8) {
    this.#max = max
  }

  take(): LineBuffer {
    return this.#free.pop() ?? new LineBuffer()
  }

  give(b: LineBuffer): void {
    b.reset()
    if (this.#free.length < this.#max) this.#free.push(b)
  }
}
