/**
 * Async jobs run one at a time, in the order they were added (what units coming and going ask of the
 * pull and firmware tables). A reconnect storm adds thousands at once: run together, each taking a
 * connection of the database pool, they took all of it (bench:cluster at 12,000 units: pool timeouts,
 * and the gateway's other work on the database waiting behind them); in line, the storm delays these
 * jobs by the line's length and nothing else, and one unit's leaving and coming back apply in the
 * order they happened. A job that fails goes to `onError` with its label; the line goes on. After
 * `stop`, jobs not yet begun are dropped: their database is closing.
 */
export class InLine {
  readonly #onError: (err: unknown, label: string) => void
  #tail: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(onError: (err: unknown, label: string) => void) {
    this.#onError = onError
  }

  add(job: () => Promise<void>, label: string): void {
    if (this.#stopped) return
    this.#tail = this.#tail
      .then(() => (this.#stopped ? undefined : job()))
      .catch((err: unknown) => this.#onError(err, label))
  }

  /** Resolves once the jobs added so far have run (or been dropped). */
  idle(): Promise<void> {
    return this.#tail
  }

  stop(): void {
    this.#stopped = true
  }
}
