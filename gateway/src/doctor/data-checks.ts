import { X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { Config } from '../config.js'
import { type Finding, fail, ok, warn } from './check.js'
import type { Probes } from './probes.js'

const DAY_MS = 86_400_000
/** A certificate this close to its end gets a warning: time to renew before units start refusing it. */
const CERT_WARN_DAYS = 30

/** The nearest folder that exists: a data dir not made yet is judged by the disk it will be on. */
function existingAncestor(dir: string): string {
  let d = path.resolve(dir)
  while (!fs.existsSync(d)) {
    const up = path.dirname(d)
    if (up === d) break
    d = up
  }
  return d
}

export function checkDataDir(dir: string): Finding {
  if (!fs.existsSync(dir)) {
    const parent = existingAncestor(dir)
    try {
      fs.accessSync(parent, fs.constants.W_OK)
      return ok('data dir', `${dir} does not exist yet; it is made on first start`)
    } catch {
      return fail(
        'data dir',
        `${dir} does not exist and ${parent} is not writable`,
        `mkdir -p ${dir} as root and chown it to the gateway's user`,
      )
    }
  }
  const st = fs.statSync(dir)
  if (!st.isDirectory())
    return fail('data dir', `${dir} is not a directory`, 'point DOORSTEP_DATA_DIR at a directory')
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK)
  } catch {
    return fail('data dir', `${dir} is not writable by this user`, `chown -R <gateway user> ${dir}`)
  }
  const mode = (st.mode & 0o777).toString(8).padStart(3, '0')
  if ((st.mode & 0o077) !== 0)
    return warn(
      'data dir',
      `${dir} is open to other users (mode ${mode}); it holds evidence, keys and tokens`,
      `chmod 700 ${dir}`,
    )
  if (typeof process.getuid === 'function' && st.uid !== process.getuid())
    return warn(
      'data dir',
      `${dir} belongs to uid ${st.uid}, not to this user`,
      `run as its owner or chown -R it`,
    )
  return ok('data dir', `${dir} (mode ${mode})`)
}

/** The clip store refuses new clips above the watermark; ten points below it is the time to act. */
export async function checkDisk(p: Probes, dir: string, watermarkPct: number): Promise<Finding> {
  const at = existingAncestor(dir)
  const { sizeBytes, freeBytes } = await p.statfs(at)
  const usedPct = sizeBytes === 0 ? 0 : ((sizeBytes - freeBytes) / sizeBytes) * 100
  const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`
  const detail = `${usedPct.toFixed(0)}% used, ${gib(freeBytes)} free of ${gib(sizeBytes)} (watermark ${watermarkPct}%)`
  if (usedPct >= watermarkPct)
    return fail('disk', detail, 'free space or move the data dir: new clips are refused above the watermark')
  if (usedPct >= watermarkPct - 10)
    return warn('disk', detail, 'plan more space: the watermark is near (DOORSTEP_DISK_HIGH_WATERMARK_PCT)')
  return ok('disk', detail)
}

export function checkKeyFile(file: string): Finding {
  if (!fs.existsSync(file)) return ok('evidence key', 'not made yet; generated on first start (mode 600)')
  const st = fs.statSync(file)
  if ((st.mode & 0o077) !== 0)
    return fail(
      'evidence key',
      `${file} is readable by other users`,
      `chmod 600 ${file}: anyone who reads it can sign exports`,
    )
  return ok('evidence key', `${file} (mode 600)`)
}

export function checkCertificate(check: string, file: string, now: number): Finding {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(fs.readFileSync(file))
  } catch (err) {
    return fail(
      check,
      `${file} cannot be read as a PEM certificate (${(err as Error).message})`,
      'check DOORSTEP_TLS_CERT',
    )
  }
  const end = Date.parse(cert.validTo)
  const days = Math.floor((end - now) / DAY_MS)
  const detail = `${cert.subject.replace(/\n/g, ', ')}, valid until ${new Date(end).toISOString().slice(0, 10)}`
  if (end <= now)
    return fail(check, `${detail}: EXPIRED`, 'renew the certificate; units refuse an expired one')
  if (days < CERT_WARN_DAYS)
    return warn(
      check,
      `${detail}: ${days === 1 ? '1 day' : `${days} days`} left`,
      'renew it now; the gateway reloads it on SIGHUP',
    )
  return ok(check, `${detail} (${days} days left)`)
}

export function checkTls(cfg: Config, now: number): Finding[] {
  if (cfg.tls === null)
    return [
      warn('tls', 'off: units and browsers talk in plain text', 'set DOORSTEP_TLS_CERT and DOORSTEP_TLS_KEY'),
    ]
  const out = [checkCertificate('tls certificate', cfg.tls.cert, now)]
  if (cfg.tls.clientCa) out.push(checkCertificate('unit CA', cfg.tls.clientCa, now))
  return out
}
