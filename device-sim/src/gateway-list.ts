import net from 'node:net'
import type { IClientOptions } from 'mqtt'

/**
 * Several gateways for one fleet: each unit has the whole list, starts at its own place in it (unit i →
 * URL i mod n, the same on every run, so a fleet spreads evenly and a unit comes back where it was) and
 * moves one place on after a connect that fails, as firmware given a list of nodes does.
 */

/** `--gateway a --gateway b,c` → `[a, b, c]`: repeated flags and comma lists, blanks dropped. */
export function splitGatewayList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).flatMap((v) => (v.trim() === '' ? [] : [v.trim()]))
}

/** Where unit `unitIndex` connects first. */
export function firstGateway(unitIndex: number, count: number): number {
  return count <= 0 ? 0 : unitIndex % count
}

/** The place after `at`, wrapping round. */
export function nextGateway(at: number, count: number): number {
  return count <= 1 ? 0 : (at + 1) % count
}

/**
 * Points an mqtt.js client at another URL for its next `reconnect()`: the client builds each connection
 * from these very option fields (host, hostname, port, protocol), so its session stores and waiting
 * publishes stay with it.
 */
export function pointClientAt(options: IClientOptions, url: string): void {
  const u = new URL(url)
  const protocol = u.protocol.replace(/:$/, '') as IClientOptions['protocol']
  options.protocol = protocol
  options.host = u.hostname
  options.hostname = u.hostname
  options.port = u.port === '' ? (protocol === 'mqtts' ? 8883 : 1883) : Number(u.port)
  // TLS names the server it expects (SNI and the certificate check): the new host, not the first one.
  const tls = options as { servername?: string }
  if (net.isIP(u.hostname) === 0) tls.servername = u.hostname
  else delete tls.servername
}
