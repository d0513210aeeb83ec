import { X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import https from 'node:https'
import type net from 'node:net'
import tls from 'node:tls'
import type { TlsFiles } from '../config.js'
import type { Logger } from '../log.js'

/**
 * TLS 1.2 at least: 1.0 and 1.1 are deprecated (RFC 8996). On 1.2, only ECDHE key exchange with AEAD
 * ciphers (forward secrecy, no CBC, no RSA key transport), as in Mozilla's "intermediate" profile;
 * TLS 1.3's suites are all of that kind.
 */
export const MIN_TLS_VERSION = 'TLSv1.2' as const
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** A unit that opened TCP and never finishes its handshake is let go after this, as MQTT's connect timeout does. */
const HANDSHAKE_TIMEOUT_MS = 15_000

/** What a reload did: the certificate now served for new connections. */
export interface TlsReload {
  /** SHA-256 fingerprint of the leaf certificate, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string
  validTo: string
}

/**
 * The gateway's certificate and key, and the TLS servers that serve them. `load()` reads the PEM files;
 * `reload()` reads them again and hands the new context to every server (`setSecureContext`): new
 * handshakes get the new certificate, connections already open keep theirs and stay up.
 */
export class TlsCredentials {
  readonly #files: TlsFiles
  readonly #log: Logger
  #context: tls.SecureContextOptions | null = null
  readonly #servers = new Set<tls.Server>()
  /** Sockets of servers that asked for a unit certificate: their CN must be the unit's id. */
  readonly #certified = new WeakSet<net.Socket>()

  constructor(files: TlsFiles, log: Logger) {
    this.#files = files
    this.#log = log.child({ feature: 'tls' })
  }

  get requiresUnitCertificates(): boolean {
    return this.#files.clientCa !== undefined
  }

  /** When the certificates in service end, epoch seconds: the metrics page them before they do. */
  notAfter(): Array<{ certificate: 'server' | 'unit_ca'; notAfterS: number }> {
    const c = this.#context
    if (!c) return []
    const end = (pem: unknown) => Math.floor(Date.parse(new X509Certificate(pem as Buffer).validTo) / 1000)
    const out: Array<{ certificate: 'server' | 'unit_ca'; notAfterS: number }> = [
      { certificate: 'server', notAfterS: end(c.cert) },
    ]
    if (c.ca) out.push({ certificate: 'unit_ca', notAfterS: end(c.ca) })
    return out
  }

  /** Reads the PEM files; throws (naming the file, never its content) when one cannot be used. */
  load(): TlsReload {
    const context = this.#read()
    this.#context = context
    return describe(context)
  }

  /**
   * Reads the files again and serves them on every server. On any failure (a half-written renewal, a
   * key that does not match) the old certificate stays in service and the error is thrown.
   */
  reload(): TlsReload {
    const context = this.#read()
    for (const server of this.#servers) server.setSecureContext(context)
    this.#context = context
    const served = describe(context)
    this.#log.info(served, 'TLS certificate reloaded')
    return served
  }

  /**
   * The MQTT-over-TLS server: `onConnection` gets each socket once its handshake is done. With a client
   * CA, a unit must present a certificate it signed; the handshake fails without one.
   */
  mqttServer(onConnection: (socket: tls.TLSSocket) => void): tls.Server {
    const requestCert = this.requiresUnitCertificates
    const server = tls.createServer(
      {
        ...this.#current(),
        requestCert,
        rejectUnauthorized: requestCert,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        noDelay: true,
      },
      (socket) => {
        if (requestCert) this.#certified.add(socket)
        onConnection(socket)
      },
    )
    return this.#track(server)
  }

  /** The HTTPS server; it carries no handler, the caller attaches the app. People need no certificate. */
  httpsServer(): https.Server {
    return this.#track(https.createServer({ ...this.#current(), handshakeTimeout: HANDSHAKE_TIMEOUT_MS }))
  }

  /**
   * Whether a unit's connection may carry its device id: always for connections that needed no
   * certificate; else the certificate's subject CN must equal the id (the CA vouches for the name, the
   * secret still proves the unit). A connection whose socket is unknown fails closed when unit
   * certificates are required.
   */
  unitCertificateMatches(socket: net.Socket | undefined, deviceId: string): boolean {
    if (!socket) return !this.requiresUnitCertificates
    if (!this.#certified.has(socket)) return true
    const cn = (socket as tls.TLSSocket).getPeerCertificate().subject?.CN
    return cn === deviceId
  }

  #current(): tls.SecureContextOptions {
    if (!this.#context) throw new Error('TLS credentials are not loaded')
    return this.#context
  }

  #track<S extends tls.Server>(server: S): S {
    this.#servers.add(server)
    server.once('close', () => this.#servers.delete(server))
    // A failed handshake (a plain client, an old TLS version, a missing unit certificate) is the
    // client's problem, not the server's: counted in the debug log only.
    server.on('tlsClientError', (err) => this.#log.debug({ err: err.message }, 'TLS handshake failed'))
    return server
  }

  #read(): tls.SecureContextOptions {
    const { cert, key, clientCa } = this.#files
    const context: tls.SecureContextOptions = {
      cert: readFile('certificate', cert),
      key: readFile('key', key),
      minVersion: MIN_TLS_VERSION,
      ciphers: CIPHERS,
      honorCipherOrder: true,
    }
    if (clientCa) context.ca = readFile('client CA', clientCa)
    try {
      // Fails here, not in a server, when the key is not the certificate's.
      tls.createSecureContext(context)
    } catch (err) {
      throw new Error(`TLS certificate and key cannot be used together: ${(err as Error).message}`)
    }
    return context
  }
}

function readFile(what: string, file: string): Buffer {
  try {
    return fs.readFileSync(file)
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code}`)
  }
}

function describe(context: tls.SecureContextOptions): TlsReload {
  const leaf = new X509Certificate(context.cert as Buffer)
  return { fingerprint: leaf.fingerprint256, validTo: leaf.validTo }
}
