import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

/** PEM files made by `openssl` in a test's temp dir: a CA and certificates it signs. */
export interface Pki {
  dir: string
  /** The CA certificate clients trust (`--cafile`, `--cacert`, `ca`). */
  caFile: string
  /** A server certificate for 127.0.0.1, 127.0.0.2 and localhost, with its key. */
  server(name: string): { cert: string; key: string }
  /** A client certificate with subject CN `cn`, for a unit. */
  client(cn: string): { cert: string; key: string }
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })

/** A new CA (P-256, valid two days) in `dir`, named `name` (several may share a dir). */
export function makePki(dir: string, name = 'ca'): Pki {
  const caKey = path.join(dir, `${name}.key`)
  const caFile = path.join(dir, `${name}.pem`)
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    `/CN=Doorstep test ${name}`,
  ])
  const issue = (file: string, cn: string, ext: string) => {
    const key = path.join(dir, `${file}.key`)
    const csr = path.join(dir, `${file}.csr`)
    const cert = path.join(dir, `${file}.pem`)
    const extFile = path.join(dir, `${file}.ext`)
    fs.writeFileSync(extFile, `${ext}\n`)
    openssl(dir, [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${cn}`,
    ])
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      '-days',
      '2',
      '-out',
      cert,
      '-extfile',
      extFile,
    ])
    return { cert, key }
  }
  return {
    dir,
    caFile,
    server: (file) =>
      issue(
        file,
        '127.0.0.1',
        'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\nextendedKeyUsage=serverAuth',
      ),
    client: (cn) => issue(`unit-${name}-${cn}`, cn, 'extendedKeyUsage=clientAuth'),
  }
}

/** SHA-256 fingerprint of a PEM certificate file, as Node reports a peer's `fingerprint256`. */
export function fingerprintOf(certFile: string): string {
  return new X509Certificate(fs.readFileSync(certFile)).fingerprint256
}
