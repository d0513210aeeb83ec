// aedes-persistence-redis ships no types: the part Doorstep uses.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis'

  /**
   * The package's export: its promise-based store wrapped in aedes-persistence's callback layer, which
   * also hands aedes 1.x the Node streams it pipes (the store itself yields async generators).
   */
  export default function redisPersistence(opts: { conn: Redis; maxSessionDelivery?: number }): {
    /**
     * The store inside. The wrapper's own `destroy` waits for a `ready` that only a setter aedes 1.x no
     * longer uses would emit, so it never runs: the store's is called directly.
     */
    readonly asyncPersistence: {
      /** The broker given to `setup`; undefined until then. */
      readonly broker: unknown
      destroy(): Promise<void>
    }
  }
}
