import { type Finding, fail, ok, warn } from './check.js'
import type { Probes } from './probes.js'

/** The first line of a program's version banner, trimmed to what names the version. */
function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').trim().slice(0, 80)
}

export async function checkNode(version: string = process.versions.node): Promise<Finding> {
  const major = Number(version.split('.')[0])
  return major >= 20
    ? ok('node', `Node.js ${version}`)
    : fail('node', `Node.js ${version}`, 'install Node.js 20 or newer')
}

export async function checkFfmpeg(p: Probes): Promise<Finding[]> {
  const out: Finding[] = []
  for (const tool of ['ffmpeg', 'ffprobe']) {
    const r = await p.run(tool, ['-version'])
    out.push(
      r
        ? ok(tool, firstLine(r.stdout).replace(/ Copyright.*$/, ''))
        : fail(
            tool,
            'not found on PATH',
            'apt-get install -y ffmpeg (clips are checked and thumbnailed with it)',
          ),
    )
  }
  return out
}

/** The managed influxd when no URL is configured; a ping of the configured one otherwise. */
export async function checkInflux(
  p: Probes,
  influx: { url: string | undefined; influxdBin: string },
): Promise<Finding> {
  if (influx.url !== undefined) {
    try {
      const res = await fetch(new URL('/ping', influx.url), { signal: AbortSignal.timeout(5000) })
      return res.status === 204
        ? ok(
            'influxdb',
            `${influx.url} answers (${res.headers.get('x-influxdb-version') ?? 'version unknown'})`,
          )
        : fail('influxdb', `${influx.url} answered HTTP ${res.status} to /ping`, 'check DOORSTEP_INFLUX_URL')
    } catch {
      return fail('influxdb', `${influx.url} does not answer`, 'start InfluxDB or fix DOORSTEP_INFLUX_URL')
    }
  }
  const r = await p.run(influx.influxdBin, ['version'])
  return r
    ? ok('influxd', firstLine(r.stdout))
    : fail(
        'influxd',
        `${influx.influxdBin} not found (Doorstep starts its own InfluxDB when no URL is configured)`,
        'apt-get install -y influxdb, or set DOORSTEP_INFLUX_URL to a running InfluxDB 1.x',
      )
}

/**
 * Units stamp events with their own clocks and the gateway corrects them by its own: a gateway clock
 * that drifts moves every event. systemd's view first, then chrony's.
 */
export async function checkClock(p: Probes): Promise<Finding> {
  const td = await p.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'])
  if (td) {
    return td.stdout.trim() === 'yes'
      ? ok('clock', 'synchronised (systemd)')
      : fail('clock', 'not synchronised', 'enable time sync: timedatectl set-ntp true (or install chrony)')
  }
  const chrony = await p.run('chronyc', ['tracking'])
  if (chrony) {
    const leap = /Leap status\s*:\s*(.+)/.exec(chrony.stdout)?.[1]?.trim()
    return leap === 'Normal'
      ? ok('clock', 'synchronised (chrony)')
      : fail('clock', `chrony reports "${leap ?? 'unknown'}"`, 'check chronyc sources: no usable time server')
  }
  return warn(
    'clock',
    'cannot tell whether the clock is synchronised (neither timedatectl nor chronyc answered)',
    'run the gateway where systemd-timesyncd or chrony keeps time',
  )
}

/**
 * Each connected unit holds a socket; so do uploads, browsers and the database. Below the expected
 * fleet plus headroom, units are refused when the fleet reconnects after a power cut.
 */
export async function checkOpenFiles(p: Probes, units: number): Promise<Finding> {
  const text = await p.limits()
  const m = text ? /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(text) : null
  if (!m) return warn('open files', 'limit unknown (no /proc/self/limits)', 'check `ulimit -n` by hand')
  const soft = m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
  const hard = m[2] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[2])
  const need = units + 512
  const detail = `limit ${m[1]} (hard ${m[2]}) for ${units} units`
  if (soft >= need) return ok('open files', detail)
  if (hard >= need)
    return warn(
      'open files',
      detail,
      `raise the soft limit to ${need}: LimitNOFILE=${need} in the systemd unit`,
    )
  return fail(
    'open files',
    detail,
    `one process cannot hold ${units} units here (hard limit ${m[2]}): raise LimitNOFILE, or spread the fleet over several gateways`,
  )
}
