import { DoorstepError } from '../errors.js'

/**
 * Why an MQTT connection ended, as the gateway saw it: every TCP connection
 * the broker accepted is counted under exactly one of these when its socket
 * closes (`doorstep_mqtt_disconnects_total{reason}`), whether or not the unit
 * ever got a session.
 */
export const DISCONNECT_REASONS = [
  /** The unit sent DISCONNECT [MQTT-3.14.4-1]; its will is dropped. */
  'clean',
  /** The unit closed its socket (FIN) without DISCONNECT. */
  'peer-closed',
  /** The socket failed: reset, broken pipe, a write after the peer was gone. */
  'socket-error',
  /** Nothing heard for 1.5 × the unit's keepalive [MQTT-3.1.2-24]. */
  'keepalive',
  /** No CONNECT within the gateway's connect timeout. */
  'connect-timeout',
  /** The same client id connected again; the older connection is closed [MQTT-3.1.4-2]. */
  'takeover',
  /** CONNACK 3 from the admission rate: too many new connections this second. */
  'refused-admission',
  /** CONNACK 3: the unit failed its secret from this address and waits out its backoff. */
  'refused-backoff',
  /** CONNACK 3: the unit's live session is younger than the takeover hold. */
  'refused-takeover',
  /** CONNACK 3 because too many secrets were being checked at once. */
  'refused-busy',
  /** CONNACK 3: with gateways sharing Redis, the others could not be told of the new session. */
  'refused-cluster',
  /** CONNACK 2, 4 or 5: identity, secret, a disabled unit or a foreign will. */
  'refused-auth',
  /** CONNACK 1 or aedes' keepalive limit: the CONNECT itself was not acceptable. */
  'refused-protocol',
  /**
   * A packet declared a remaining length over the limit (the CONNECT limit before the session, the
   * packet limit after); refused by the frame guard before its bytes were buffered.
   */
  'refused-frame-size',
  /** A publish outside the unit's own topics (or on $SYS). */
  'kicked-acl',
  /** Too many invalid payloads in the flood window. */
  'kicked-flood',
  /** An event could not be made durable: the spool is full or its write failed. */
  'kicked-spool',
  /** A packet aedes could not parse or may not accept from a client. */
  'protocol-error',
  /** The client did not read what the broker wrote within the drain timeout. */
  'slow-reader',
  /** The unit was disabled or its secret rotated while it was connected. */
  'revoked',
  /** The gateway is stopping. */
  'shutdown',
] as const

export type DisconnectReason = (typeof DISCONNECT_REASONS)[number]

/** An error that carries the reason its connection is about to end for. */
export interface ReasonedError extends Error {
  disconnectReason?: DisconnectReason
}

/** aedes' CONNACK refusals carry the return code as `errorCode` (lib/handlers/connect.js). */
function refusalReason(code: number): DisconnectReason {
  if (code === 3) return 'refused-admission'
  if (code === 2 || code === 4 || code === 5) return 'refused-auth'
  return 'refused-protocol'
}

/**
 * The reason for an error aedes reports on a connection (`clientError` or
 * `connectionError`). Errors the gateway makes itself (refusals, kicks) say
 * so; the rest are aedes' own, recognised by the messages of aedes 1.2
 * (lib/client.js, lib/handlers/connect.js, lib/write.js) or a socket's code.
 */
export function reasonOfError(err: Error): DisconnectReason {
  const own = (err as ReasonedError).disconnectReason
  if (own) return own
  // Any refusal, ours with an unforeseen cause included: aedes answered the CONNECT with this code.
  const connack = (err as { errorCode?: unknown }).errorCode
  if (typeof connack === 'number') return refusalReason(connack)
  if (err instanceof DoorstepError) {
    switch (err.code) {
      case 'DOORSTEP_ERR_BAD_REQUEST':
        return 'kicked-flood'
      case 'DOORSTEP_ERR_SHUTTING_DOWN':
        return 'shutdown'
      case 'DOORSTEP_ERR_NOT_FOUND':
        // The unit was removed from the registry while connected.
        return 'kicked-acl'
      default:
        return 'kicked-spool'
    }
  }
  switch (err.message) {
    case 'keep alive timeout':
      return 'keepalive'
    case 'connect did not arrive in time':
      return 'connect-timeout'
    case 'drain timeout':
      return 'slow-reader'
    case 'connection closed':
      return 'socket-error'
  }
  // The spool's own failures (ingest/spool.ts) reach aedes through the PUBACK callback.
  if (err.message.startsWith('spool')) return 'kicked-spool'
  if (typeof (err as { code?: unknown }).code === 'string') return 'socket-error'
  return 'protocol-error'
}
