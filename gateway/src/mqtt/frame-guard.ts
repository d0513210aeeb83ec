import type { Duplex } from 'node:stream'
import type { ReasonedError } from './disconnects.js'

/**
 * The most a connection may declare for one packet before its session is
 * established (CONNACK 0 sent). A CONNECT holds a protocol name and level,
 * flags and keepalive (10 bytes, 12 for MQTT 3.1), then 2-byte-prefixed
 * strings each bounded by our own rules: the client id and user name (a device
 * id, ≤ 64), the password (a secret, refused above 256 bytes), and a will whose
 * topic must be the unit's `cam/{id}/status` (≤ 75). That is under 500 bytes,
 * which leaves more than 500 for the will's status payload (about 50 in the
 * contract). Anything larger is not a unit, and must not cost memory before
 * anyone knows who it is.
 */
export const CONNECT_MAX_BYTES = 1024

export interface FrameLimits {
  /** Largest remaining length of any packet until the session is established. */
  connectBytes: number
  /** Largest remaining length of a packet once it is: a whole publish, topic and payload. */
  packetBytes: number
}

/** Why and where a connection's frame was refused, for the counter. */
export interface FrameRefusal {
  /** `connect`: before the session was established; `session`: after. */
  stage: 'connect' | 'session'
  /** The MQTT control packet type [MQTT-2.2.1], 1 (CONNECT) … 14. */
  packetType: number
  /** The remaining length declared so far (a lower bound when the varint was cut short). */
  declared: number
  /** True when the remaining length was not a valid varint [MQTT-2.2.3]. */
  malformed: boolean
}

interface Guard {
  limits: FrameLimits
  established: boolean
}

const guards = new WeakMap<Duplex, Guard>()

function refusalError(r: FrameRefusal, limit: number): ReasonedError {
  const err: ReasonedError = r.malformed
    ? new Error('malformed remaining length (more than 4 bytes)')
    : new Error(`packet declares ${r.declared} bytes, over the limit of ${limit}`)
  err.disconnectReason = r.malformed ? 'protocol-error' : 'refused-frame-size'
  return err
}

/**
 * Refuses MQTT packets by their declared size before anything buffers them.
 * aedes' parser (mqtt-packet) holds a packet's bytes until all of it has
 * arrived, so a PUBLISH declaring 200 MB would be buffered to the last byte;
 * here each packet's fixed header, the type and the remaining-length varint
 * [MQTT-2.2.3], is read as bytes arrive, and the socket is destroyed as soon as
 * a declared length exceeds the limit, with the bytes of that read dropped.
 *
 * Zero-copy and in place: the socket's own `push`, through which every
 * received chunk enters its read buffer (TCP and TLS sockets alike), is
 * wrapped to scan the chunk and hand on the same Buffer. No Transform (an extra
 * copy and a second stream's buffering), no allocation per packet or chunk;
 * the state is a few numbers per connection, and a packet body is skipped by
 * arithmetic, not read. The socket returned is the one given, so listeners,
 * `remoteAddress` and aedes' use of it are unchanged.
 */
export function guardFrames<S extends Duplex>(
  socket: S,
  limits: FrameLimits,
  onRefused?: (refusal: FrameRefusal, socket: S) => void,
): S {
  const guard: Guard = { limits, established: false }
  guards.set(socket, guard)
  const push = socket.push
  // Parser state, kept across chunks: a header may arrive split over any number of reads.
  let inLength = false
  let packetType = 0
  let declared = 0
  let multiplier = 1
  let lengthBytes = 0
  /** Body bytes of the current packet still to come. */
  let skip = 0
  let refused = false

  const refuse = (malformed: boolean): false => {
    refused = true
    const r: FrameRefusal = {
      stage: guard.established ? 'session' : 'connect',
      packetType,
      declared,
      malformed,
    }
    onRefused?.(r, socket)
    socket.destroy(refusalError(r, guard.established ? limits.packetBytes : limits.connectBytes))
    return false
  }

  socket.push = function guardedPush(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (refused) return false
    if (chunk === null || chunk === undefined) return push.call(socket, chunk, encoding)
    const bytes: Uint8Array =
      chunk instanceof Uint8Array ? chunk : Buffer.from(String(chunk), encoding ?? 'utf8')
    const n = bytes.length
    const limit = guard.established ? limits.packetBytes : limits.connectBytes
    let i = 0
    while (i < n) {
      if (skip > 0) {
        const take = Math.min(skip, n - i)
        skip -= take
        i += take
        continue
      }
      const b = bytes[i++] as number
      if (!inLength) {
        packetType = b >> 4
        declared = 0
        multiplier = 1
        lengthBytes = 0
        inLength = true
        continue
      }
      declared += (b & 0x7f) * multiplier
      multiplier *= 128
      lengthBytes++
      // Checked on every byte: later bytes only add, so a length over the limit is refused unfinished.
      if (declared > limit) return refuse(false)
      if (b & 0x80) {
        // At most four bytes encode the remaining length [MQTT-2.2.3].
        if (lengthBytes === 4) return refuse(true)
        continue
      }
      inLength = false
      skip = declared
    }
    return push.call(socket, chunk, encoding)
  } as S['push']
  return socket
}

/**
 * The session on a guarded socket is established (CONNACK 0 sent): packets
 * from now on may be as large as `packetBytes`. Bytes already read were
 * measured against the CONNECT limit, so a client that pipelines a large
 * publish before its CONNACK is refused; units wait for CONNACK.
 */
export function openFrames(socket: Duplex): void {
  const g = guards.get(socket)
  if (g) g.established = true
}
