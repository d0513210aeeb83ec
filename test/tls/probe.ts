import { execFile } from 'node:child_process'
import net from 'node:net'
import tls from 'node:tls'

/** How a TLS handshake ended: the protocol agreed, or the error the client saw. */
export type Handshake =
  | { ok: true; protocol: string | null; fingerprint: string }
  | { ok: false; error: string }

/** One TLS handshake to 127.0.0.1:`port`; the socket is closed once it is decided. */
export function handshake(port: number, opts: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts })
    socket.once('secureConnect', () => {
      resolve({
        ok: true,
        protocol: socket.getProtocol(),
        fingerprint: socket.getPeerCertificate().fingerprint256,
      })
      socket.destroy()
    })
    socket.once('error', (err) =>
      resolve({ ok: false, error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` }),
    )
  })
}

/**
 * Sends `bytes` in the clear to `port` and resolves with what came back before the server closed the
 * connection (a TLS port answers a plain client with at most an alert, never its protocol).
 */
export function plainExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const got: Buffer[] = []
    socket.on('data', (d) => got.push(d))
    socket.once('connect', () => socket.write(bytes))
    socket.once('error', reject)
    socket.once('close', () => resolve(Buffer.concat(got)))
    socket.setTimeout(10_000, () => reject(new Error('the server kept a plain connection open')))
  })
}

/**
 * Runs a command-line client. On failure the error carries the exit code and stderr only, never the
 * arguments: they hold a unit's secret or a token.
 */
export function runTool(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}
