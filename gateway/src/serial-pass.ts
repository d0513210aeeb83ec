/**
 * An async pass run one at a time (the pull dispatcher's and the firmware rollout's look at what may
 * be sent now). A call while a pass runs asks for one more after it, however many calls come in
 * meanwhile, so a change made during a pass is still seen. A pass that fails goes to `onError`; the
 * next call tries again.
 */
export class SerialPass {
  readonly #pass: () => Promise<void>
  readonly #onError: (err: unknown) => void
  #running = false
  #again = false
  #stopped = false
  #done: Promise<void> = Promise.resolve()

  constructor(pass: () => Promise<void>, onError: (err: unknown) => void) {
    this.#pass = pass
    this.#onError = onError
  }

  get stopped(): boolean {
    return this.#stopped
  }

  run(): void {
    if (this.#stopped) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = true
    this.#done = (async () => {
      try {
        do {
          this.#again = false
          await this.#pass()
        } while (this.#again && !this.#stopped)
      } catch (err) {
        this.#onError(err)
      } finally {
        this.#running = false
      }
    })()
  }

  /** No pass starts after this; one under way finishes (see `settled`). */
  stop(): void {
    this.#stopped = true
  }

  /** Resolves when the pass under way, and those it asked for, are over. */
  async settled(): Promise<void> {
    while (this.#running) await this.#done
  }
}
