/** PROXY protocol headers built by hand, as a load balancer sends them (haproxy's doc/proxy-protocol.txt). */

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** A PROXY v2 header as haproxy's send-proxy-v2 writes it: command, family, address block, TLVs. */
export function v2Header(opts: {
  command?: number
  family?: number
  addresses?: Buffer
  tlvs?: Buffer
}): Buffer {
  const body = Buffer.concat([opts.addresses ?? Buffer.alloc(0), opts.tlvs ?? Buffer.alloc(0)])
  const head = Buffer.alloc(4)
  head[0] = 0x20 | (opts.command ?? 1)
  head[1] = opts.family ?? 0x11
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([SIG, head, body])
}

/** A v2 PROXY header for a TCP over IPv4 connection from `source`. */
export function v2Ipv4(source: string, dest = '127.0.0.1', sport = 40000, dport = 1883): Buffer {
  const a = Buffer.alloc(12)
  source.split('.').forEach((o, i) => {
    a[i] = Number(o)
  })
  dest.split('.').forEach((o, i) => {
    a[4 + i] = Number(o)
  })
  a.writeUInt16BE(sport, 8)
  a.writeUInt16BE(dport, 10)
  return v2Header({ addresses: a })
}

/** A v1 PROXY line for a TCP over IPv4 connection from `source`. */
export function v1Line(source: string, dest = '127.0.0.1', sport = 40000, dport = 1883): Buffer {
  return Buffer.from(`PROXY TCP4 ${source} ${dest} ${sport} ${dport}\r\n`)
}
