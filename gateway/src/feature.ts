/**
 * A gateway feature: constructing one does nothing; `start()` opens what it
 * needs, `stop()` closes exactly that. The gateway starts features in order
 * and stops them in reverse.
 */
export interface Feature {
  readonly name: string
  start(): Promise<void> | void
  stop(): Promise<void> | void
}
