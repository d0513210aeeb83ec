import { type ChildProcess, execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'
import { influxQuery } from '../helpers/influx-query.js'
import { connectUnit, end, publish, refusedCode } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { stablePort } from '../helpers/ports.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { makePki } from '../tls/certs.js'

/*
 * The Grafana dashboards and the Prometheus alert rules against what the gateway really exposes: a
 * gateway with TLS and units that report (a heartbeat saying "not recording", an event, a unit going
 * offline), its /metrics scraped, its InfluxDB asked every dashboard query, and a real Prometheus
 * (Debian's) scraping it with the shipped rules loaded.
 */

const run = promisify(execFile)
const DEPLOY = path.resolve(import.meta.dirname, '../../gateway/deploy')
const DASHBOARDS = path.join(DEPLOY, 'grafana/dashboards')
const DATASOURCES = path.join(DEPLOY, 'grafana/provisioning/datasources/doorstep.yml')

interface Target {
  datasource?: { uid?: string }
  expr?: string
  query?: string
}
interface Panel {
  id: number
  title: string
  datasource?: { uid?: string }
  gridPos?: { x: number; y: number; w: number; h: number }
  targets?: Target[]
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
}

const dashboards: Dashboard[] = fs
  .readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(fs.readFileSync(path.join(DASHBOARDS, f), 'utf8')) as Dashboard)
const targets = dashboards.flatMap((d) => d.panels.flatMap((p) => p.targets ?? []))
const promExprs = targets.filter((t) => t.expr !== undefined).map((t) => t.expr as string)
const influxQueries = targets.filter((t) => t.query !== undefined).map((t) => t.query as string)

/** The doorstep_ metric families a PromQL expression reads (histogram series by their family). */
function metricsOf(expr: string): string[] {
  return [...expr.matchAll(/\bdoorstep_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))
}

/** A Grafana InfluxQL query made runnable: its time filter, interval and district variable filled in. */
function runnable(q: string): string {
  return q
    .replaceAll('$timeFilter', 'time > now() - 1h')
    .replaceAll('$__interval', '1m')
    .replaceAll('/^$district$/', '/.*/')
}

/** Gauges only a gateway sharing Redis or PostgreSQL exposes (the cluster tests read them). */
const DEPENDENCY_GAUGES = ['doorstep_redis_up', 'doorstep_database_up', 'doorstep_event_outbox']

describe('dashboards and alert rules', { timeout: 120_000 }, () => {
  const tmp = tempDir('doorstep-observability-')
  let gw: TestGateway
  /** The dependency gauges of what this gateway does not have (a run on PostgreSQL has the database). */
  const notConfigured = (): Set<string> => {
    const cluster = gw.gateway.config.cluster
    return new Set(
      DEPENDENCY_GAUGES.filter((g) => (g === 'doorstep_redis_up' ? !cluster.redisUrl : !cluster.databaseUrl)),
    )
  }
  let scrape = ''
  let prometheus: ChildProcess | null = null

  beforeAll(async () => {
    const pki = makePki(tmp.dir)
    const { cert, key } = pki.server('gw')
    gw = await startTestGateway({
      DOORSTEP_TLS_CERT: cert,
      DOORSTEP_TLS_KEY: key,
      DOORSTEP_PLAIN_LISTENERS: 'loopback',
    })
    const stays = await gw.gateway.registry.create(deviceRow({ district: 12 }))
    const leaves = await gw.gateway.registry.create(deviceRow({ district: 13 }))
    const a = await connectUnit(gw.gateway.mqttUrl, stays.id, stays.secret)
    const b = await connectUnit(gw.gateway.mqttUrl, leaves.id, leaves.secret)
    await publish(a, `cam/${stays.id}/heartbeat`, heartbeat({ recording: false }), 1)
    await publish(b, `cam/${leaves.id}/heartbeat`, heartbeat(), 1)
    await publish(a, `cam/${stays.id}/event`, event({ kind: 'motion' }), 1)
    // A payload the gateway refuses: the invalid-messages counter gets its first sample.
    await publish(a, `cam/${stays.id}/heartbeat`, '{"v":1,', 0)
    await end(b)
    // A unit with a wrong secret and a wrong token: both refusal counters have something to count.
    expect(await refusedCode(gw.gateway.mqttUrl, stays.id, 'not-the-secret-0000000000')).toBeGreaterThan(0)
    await fetch(`${gw.gateway.httpUrl}/api/v1/health`, { headers: bearer('adm_not_a_real_token_000000') })
    // Heartbeats, the event and both presence changes written: every measurement a dashboard reads.
    await until('the measurements in InfluxDB', async () => {
      const series = await influxQuery(gw.influxUrl, gw.db, 'SHOW MEASUREMENTS')
      const have = series.flatMap((x) => x.values.map((v) => String(v[0])))
      return ['heartbeat', 'event', 'presence'].every((m) => have.includes(m))
    })
    await sleep(500)
    await end(a)
    const res = await fetch(`${gw.gateway.httpUrl}/metrics`, { headers: bearer(gw.adminToken) })
    expect(res.status).toBe(200)
    scrape = await res.text()
  })

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM')
      await new Promise((r) => prometheus?.once('exit', r))
    }
    await gw?.stop()
    tmp.cleanup()
  })

  it('are well-formed: unique ids, laid out panels, every target on a provisioned datasource', () => {
    const provisioned = [...fs.readFileSync(DATASOURCES, 'utf8').matchAll(/^\s+uid: (\S+)$/gm)].map(
      (m) => m[1],
    )
    expect(provisioned.sort()).toEqual(['doorstep-influxdb', 'doorstep-prometheus'])
    expect(new Set(dashboards.map((d) => d.uid)).size).toBe(dashboards.length)
    expect(dashboards.map((d) => d.uid).sort()).toEqual(['doorstep-fleet', 'doorstep-gateway'])
    for (const d of dashboards) {
      expect(new Set(d.panels.map((p) => p.id)).size, d.uid).toBe(d.panels.length)
      for (const p of d.panels) {
        expect(p.gridPos, p.title).toBeDefined()
        expect(p.targets?.length, p.title).toBeGreaterThan(0)
        for (const t of p.targets ?? [])
          expect(provisioned, p.title).toContain(t.datasource?.uid ?? p.datasource?.uid)
      }
    }
    expect(promExprs.length).toBeGreaterThan(10)
    expect(influxQueries.length).toBeGreaterThan(5)
  })

  it('read only metrics the gateway exposes, each with a sample', () => {
    const families = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]))
    const wanted = new Set(promExprs.flatMap(metricsOf))
    expect(wanted.size).toBeGreaterThan(10)
    // A dependency this gateway does not have has no gauge at all (a gauge left unset would read 0,
    // "down", and page someone); the cluster tests read them where they are configured.
    for (const name of notConfigured()) expect(scrape).not.toContain(name)
    if (gw.gateway.config.cluster.databaseUrl) expect(scrape).toMatch(/^doorstep_database_up 1$/m)
    for (const name of wanted) {
      expect(families, name).toContain(name)
      expect(scrape, `${name} has no sample`).toMatch(
        new RegExp(`^${name}(_bucket|_count)?(\\{[^}]*\\})? `, 'm'),
      )
    }
    // The scrape-time gauges read live state: the certificate's end, two units (one offline), InfluxDB up.
    expect(scrape).toMatch(/^doorstep_tls_certificate_not_after_seconds\{certificate="server"\} \d{10}$/m)
    expect(scrape).toMatch(/^doorstep_units\{state="offline"\} 2$/m)
    expect(scrape).toMatch(/^doorstep_district_units\{district="13",state="offline"\} 1$/m)
    expect(scrape).toMatch(/^doorstep_influx_up 1$/m)
    expect(scrape).toMatch(/^doorstep_auth_failures_total [1-9]\d*$/m)
    expect(scrape).toMatch(/^doorstep_clip_disk_used_ratio 0\.\d+/m)
  })

  it('query measurements, fields and tags InfluxDB holds, and get series back', async () => {
    const q = (s: string) => influxQuery(gw.influxUrl, gw.db, s)
    const names = (series: Array<{ values: unknown[][] }>) =>
      series.flatMap((s) => s.values.map((v) => String(v[0])))
    const measurements = names(await q('SHOW MEASUREMENTS'))
    for (const query of influxQueries) {
      // A measurement outside the default retention policy is named with it ("events_1y"."event").
      const [, rp, m = ''] = /FROM (?:"(\w+)"\.)?"(\w+)"/.exec(query) ?? []
      const from = rp ? `"${rp}"."${m}"` : `"${m}"`
      expect(measurements, query).toContain(m)
      const keys = [
        ...names(await q(`SHOW FIELD KEYS FROM ${from}`)),
        ...names(await q(`SHOW TAG KEYS FROM "${m}"`)),
      ]
      for (const ident of query.matchAll(/"(\w+)"/g))
        if (ident[1] !== m && ident[1] !== rp) expect(keys, `${ident[1]} in ${query}`).toContain(ident[1])
      const series = await q(runnable(query))
      expect(series.length, `no data for ${query}`).toBeGreaterThan(0)
    }
  })

  it('alert rules pass promtool, and a real Prometheus loads them and scrapes the gateway', async () => {
    const rules = path.join(DEPLOY, 'prometheus/alerts.yml')
    expect((await run('promtool', ['check', 'rules', rules])).stdout).toMatch(/SUCCESS: \d+ rules found/)
    // The shipped scrape config, with its token file in place, as an operator installs it.
    const etc = path.join(tmp.dir, 'etc')
    fs.mkdirSync(etc)
    fs.copyFileSync(path.join(DEPLOY, 'prometheus/prometheus.yml'), path.join(etc, 'prometheus.yml'))
    fs.copyFileSync(rules, path.join(etc, 'alerts.yml'))
    const shipped = await run('promtool', [
      'check',
      'config',
      '--syntax-only',
      path.join(etc, 'prometheus.yml'),
    ])
    expect(shipped.stdout).toMatch(/SUCCESS/)

    // The same rules, scraping this test's gateway every second.
    const token = path.join(tmp.dir, 'token')
    fs.writeFileSync(token, gw.adminToken, { mode: 0o600 })
    const port = await stablePort()
    const config = path.join(tmp.dir, 'prometheus.yml')
    fs.writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ["${path.join(etc, 'alerts.yml')}"]`,
        'scrape_configs:',
        '  - job_name: doorstep',
        `    authorization: { type: Bearer, credentials_file: "${token}" }`,
        `    static_configs: [{ targets: ["${new URL(gw.gateway.httpUrl).host}"] }]`,
        '',
      ].join('\n'),
    )
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(tmp.dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    )
    const api = async <T>(p: string): Promise<T> => {
      const res = await fetch(`http://127.0.0.1:${port}${p}`)
      return ((await res.json()) as { data: T }).data
    }
    await expect
      .poll(
        async () => {
          try {
            const t = await api<{ activeTargets: Array<{ health: string }> }>('/api/v1/targets')
            return t.activeTargets.map((x) => x.health)
          } catch {
            return []
          }
        },
        { timeout: 30_000, interval: 500 },
      )
      .toEqual(['up'])
    type Rules = { groups: Array<{ rules: Array<{ name: string; health: string; query: string }> }> }
    await expect
      .poll(
        async () => {
          const r = await api<Rules>('/api/v1/rules')
          return r.groups.flatMap((g) => g.rules).filter((x) => x.health === 'ok').length
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(13)
    const loaded = (await api<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules)
    const families = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]))
    const absent = notConfigured()
    for (const r of loaded)
      for (const name of metricsOf(r.query))
        if (!absent.has(name)) expect(families, `${r.name}: ${name}`).toContain(name)
    // The rules on dependencies this gateway has not are loaded and read exactly those gauges.
    const onDependencies = loaded.filter((r) => metricsOf(r.query).some((m) => DEPENDENCY_GAUGES.includes(m)))
    expect(onDependencies.map((r) => r.name).sort()).toEqual([
      'DoorstepDatabaseUnreachable',
      'DoorstepEventOutboxGrowing',
      'DoorstepRedisUnreachable',
    ])
    // Prometheus holds the gateway's units by state, as the dashboards will ask for them.
    const units = await api<{ result: Array<{ metric: { state: string } }> }>(
      `/api/v1/query?query=${encodeURIComponent('doorstep_units')}`,
    )
    expect(units.result.map((r) => r.metric.state).sort()).toEqual(['offline', 'online', 'stale', 'unknown'])
  })
})
