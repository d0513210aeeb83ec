import fs from 'node:fs'
import net from 'node:net'

/**
 * A free port for a test that stops and restarts a process on the same address. Ports from
 * bind(0) come from the kernel's ephemeral range, where every other test (and every outgoing
 * connection) gets its ports too: one released between two runs can be taken in the gap. Below
 * that range only an explicit bind takes a port, so a port picked there stays ours across restarts.
 */
export async function stablePort(host = '127.0.0.1'): Promise<number> {
  const [low] = fs
    .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number)
  const top = Math.min(low ?? 32768, 32768)
  const bottom = Math.max(10_000, top - 16_000)
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom))
    if (await canBind(port, host)) return port
  }
  throw new Error(`no free port found between ${bottom} and ${top}`)
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)))
  })
}
