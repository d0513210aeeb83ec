import net from 'node:net'

/**
 * The PROXY protocol header a TCP load balancer (HAProxy's `send-proxy` or
 * `send-proxy-v2`) puts before the client's bytes, so that the server learns
 * the client's address rather than the proxy's. Both versions are read:
 * v1 is one text line (at most 107 bytes), v2 a binary block (a 16-byte
 * header and the length it declares). Specification: haproxy's
 * doc/proxy-protocol.txt.
 */

/** What the start of a connection's bytes holds. */
export type ProxyHeader =
  | { kind: 'incomplete' }
  | { kind: 'bad'; reason: string }
  /** `source` null: the proxy speaks for itself (v2 LOCAL, a health check) or the family is not IP. */
  | { kind: 'ok'; length: number; source: string | null }

const V1_MAX = 107
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** Address blocks and TLVs beyond this are not a proxy we would put in front of units. */
const V2_MAX_BODY = 2048
const V1_PREFIX = 'PROXY '

/** An address as Node prints it (`2001:db8::1`), so one client is one key however it was written. */
function canonical(address: string): string | null {
  const family = net.isIP(address)
  if (family === 0) return null
  return new net.SocketAddress({ address, family: family === 4 ? 'ipv4' : 'ipv6' }).address
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n', 0, 'latin1')
  if (end < 0) {
    return buf.length >= V1_MAX
      ? { kind: 'bad', reason: 'PROXY v1 line longer than 107 bytes' }
      : { kind: 'incomplete' }
  }
  if (end + 2 > V1_MAX) return { kind: 'bad', reason: 'PROXY v1 line longer than 107 bytes' }
  const parts = buf.toString('latin1', 0, end).split(' ')
  const length = end + 2
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', length, source: null }
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) {
    return { kind: 'bad', reason: 'PROXY v1 line is not TCP4, TCP6 or UNKNOWN with two addresses and ports' }
  }
  const source = canonical(parts[2] as string)
  const wanted = parts[1] === 'TCP4' ? 4 : 6
  if (source === null || net.isIP(parts[2] as string) !== wanted) {
    return { kind: 'bad', reason: 'PROXY v1 source is not an address of its family' }
  }
  return { kind: 'ok', length, source }
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { kind: 'incomplete' }
  const version = buf[12] as number
  if (version >> 4 !== 2) return { kind: 'bad', reason: 'PROXY v2 header of an unknown version' }
  const command = version & 0x0f
  if (command > 1) return { kind: 'bad', reason: 'PROXY v2 header with an unknown command' }
  const body = buf.readUInt16BE(14)
  if (body > V2_MAX_BODY) return { kind: 'bad', reason: `PROXY v2 header declares ${body} bytes` }
  const length = 16 + body
  if (buf.length < length) return { kind: 'incomplete' }
  // LOCAL: the proxy's own connection (a health check); its address is the peer's.
  if (command === 0) return { kind: 'ok', length, source: null }
  const family = (buf[13] as number) >> 4
  if (family === 1) {
    if (body < 12) return { kind: 'bad', reason: 'PROXY v2 IPv4 block too short' }
    return { kind: 'ok', length, source: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}` }
  }
  if (family === 2) {
    if (body < 36) return { kind: 'bad', reason: 'PROXY v2 IPv6 block too short' }
    const groups: string[] = []
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16))
    return { kind: 'ok', length, source: canonical(groups.join(':')) }
  }
  // UNSPEC or a UNIX socket: no IP to go by.
  return { kind: 'ok', length, source: null }
}

/** Reads a PROXY header (either version) from the first bytes of a connection. */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' }
  if (buf[0] === 0x0d) {
    const n = Math.min(buf.length, V2_SIGNATURE.length)
    if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) {
      return { kind: 'bad', reason: 'not a PROXY protocol header' }
    }
    return n < V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(buf)
  }
  const n = Math.min(buf.length, V1_PREFIX.length)
  if (buf.toString('latin1', 0, n) !== V1_PREFIX.slice(0, n)) {
    return { kind: 'bad', reason: 'not a PROXY protocol header' }
  }
  return n < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf)
}

/**
 * Takes the PROXY header off the front of `socket`. `done` is told the
 * client's address (null when the proxy spoke for itself) and the bytes that
 * followed the header, which the caller hands on; the socket is left paused,
 * with nothing read past them. On a bad or missing header the socket is
 * destroyed and `done` is told why.
 */
export function readProxyHeader(
  socket: net.Socket,
  timeoutMs: number,
  done: (err: Error | null, source: string | null, rest: Buffer) => void,
): void {
  let buf: Buffer = Buffer.alloc(0)
  const finish = (err: Error | null, source: string | null, rest: Buffer) => {
    clearTimeout(timer)
    socket.off('data', onData)
    socket.off('close', onClose)
    socket.off('error', onError)
    socket.pause()
    if (err) socket.destroy()
    done(err, source, rest)
  }
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    const h = parseProxyHeader(buf)
    if (h.kind === 'incomplete') return
    if (h.kind === 'bad') finish(new Error(h.reason), null, Buffer.alloc(0))
    else finish(null, h.source, buf.subarray(h.length))
  }
  const onClose = () => finish(new Error('closed before its PROXY header'), null, Buffer.alloc(0))
  // Unheard, a reset before the header would be an 'error' event nobody listens to.
  const onError = (err: Error) =>
    finish(new Error(`before its PROXY header: ${err.message}`), null, Buffer.alloc(0))
  const timer = setTimeout(
    () => finish(new Error(`no PROXY header within ${timeoutMs} ms`), null, Buffer.alloc(0)),
    timeoutMs,
  )
  socket.on('data', onData)
  socket.once('close', onClose)
  socket.once('error', onError)
}

/** The addresses trusted to send PROXY headers (and X-Forwarded-For): single addresses or CIDR blocks. */
export function proxyList(entries: readonly string[]): net.BlockList | null {
  if (entries.length === 0) return null
  const list = new net.BlockList()
  for (const e of entries) {
    const [address, prefix] = e.split('/') as [string, string | undefined]
    const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(prefix), type)
  }
  return list
}
