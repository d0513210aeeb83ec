import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { z } from 'zod'
import { SHIPPED_CONFIG } from '../helpers/haproxy.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')

/** The parts of a compose file these checks read; compose itself cannot run here (no container engine). */
const Service = z.object({
  image: z.string().optional(),
  build: z.string().optional(),
  profiles: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  ports: z.array(z.string()).optional(),
  networks: z.record(z.string(), z.object({ ipv4_address: z.string().optional() }).nullable()).optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string() }))])
    .optional(),
})
const Compose = z.object({
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.null()),
  networks: z
    .record(z.string(), z.object({ ipam: z.object({ config: z.array(z.object({ subnet: z.string() })) }) }))
    .optional(),
})

const compose = Compose.parse(
  parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }),
)
const inCluster = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('cluster'))
const gateways = inCluster.filter(([name]) => /^gateway\d$/.test(name))

describe('the shipped HAProxy config', () => {
  it('passes haproxy -c as shipped', async () => {
    const { stdout, stderr } = await run('haproxy', ['-c', '-f', SHIPPED_CONFIG])
    expect(`${stdout}${stderr}`).toContain('Configuration file is valid')
  })

  it('passes haproxy -c with the gateways named as the compose profile names them', async () => {
    const env = compose.services.haproxy?.environment ?? {}
    // The compose hosts do not resolve here: any resolvable name stands in, the file is what is checked.
    const local = Object.fromEntries(Object.keys(env).map((k) => [k, 'localhost']))
    const { stdout, stderr } = await run('haproxy', ['-c', '-f', SHIPPED_CONFIG], {
      env: { ...process.env, ...local },
    })
    expect(`${stdout}${stderr}`).toContain('Configuration file is valid')
    const text = fs.readFileSync(SHIPPED_CONFIG, 'utf8')
    for (const k of Object.keys(env)) expect(text).toContain(`\${${k}-`)
  })
})

describe('docker-compose.yml', () => {
  it('keeps the default services as they were: InfluxDB and one gateway', () => {
    const always = Object.entries(compose.services).filter(([, s]) => !s.profiles)
    expect(always.map(([n]) => n)).toEqual(['influxdb', 'gateway'])
    expect(compose.services.gateway?.environment?.DOORSTEP_REDIS_URL).toBeUndefined()
    expect(compose.services.gateway?.environment?.DOORSTEP_DATABASE_URL).toBeUndefined()
  })

  it('has a cluster profile: Redis, PostgreSQL, three gateways sharing them, each its own clips, HAProxy with the shipped config', () => {
    expect(inCluster.map(([n]) => n).sort()).toEqual([
      'gateway1',
      'gateway2',
      'gateway3',
      'haproxy',
      'postgres',
      'redis',
    ])
    const ids = new Set<string>()
    const dataVolumes = new Set<string>()
    const sharedVolumes = new Set<string>()
    for (const [, g] of gateways) {
      expect(g.build).toBe('.')
      expect(g.environment?.DOORSTEP_REDIS_URL).toBe('redis://redis:6379')
      expect(g.environment?.DOORSTEP_DATABASE_URL).toMatch(
        /^postgres:\/\/doorstep:.*@postgres:5432\/doorstep$/,
      )
      expect(g.depends_on).toHaveProperty('postgres')
      expect(g.environment?.DOORSTEP_INFLUX_URL).toBe('http://influxdb:8086')
      ids.add(g.environment?.DOORSTEP_NODE_ID ?? '')
      // Content-addressed clip files freed by one gateway's table must not be another's: no shared clip
      // volume while each gateway keeps its own clips table.
      expect(g.volumes?.some((v) => v.includes(':/var/lib/doorstep/clips'))).toBe(false)
      const data = g.volumes?.find((v) => v.endsWith(':/var/lib/doorstep'))
      dataVolumes.add(data ?? '')
      // Pulled recordings and firmware images: the one directory they all mount.
      expect(g.environment?.DOORSTEP_SHARED_DIR).toBe('/var/lib/doorstep-shared')
      sharedVolumes.add(g.volumes?.find((v) => v.endsWith(':/var/lib/doorstep-shared')) ?? '')
    }
    expect([...sharedVolumes]).toEqual(['cluster-shared:/var/lib/doorstep-shared'])
    // Each node its own id and its own data (spool, SQLite, clips).
    expect(ids.size).toBe(3)
    expect(dataVolumes.size).toBe(3)
    const hap = compose.services.haproxy
    expect(hap?.volumes).toContain(
      './gateway/deploy/haproxy/doorstep.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro',
    )
    expect(Object.values(hap?.environment ?? {}).sort()).toEqual(gateways.map(([n]) => n).sort())
    expect(hap?.ports).toEqual(['1883:1883', '8883:8883', '8080:80'])
  })

  it('has the gateways trust HAProxy alone, at its fixed address in the project network', () => {
    const address = compose.services.haproxy?.networks?.default?.ipv4_address
    expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    const subnet = compose.networks?.default?.ipam.config[0]?.subnet ?? ''
    const [base = '', bits = '32'] = subnet.split('/')
    const list = new net.BlockList()
    list.addSubnet(base, Number(bits), 'ipv4')
    expect(list.check(address as string, 'ipv4')).toBe(true)
    for (const [, g] of gateways) {
      expect(g.environment?.DOORSTEP_TRUSTED_PROXIES).toBe(address)
      // The old stand-in for per-unit addresses (one budget for the whole fleet) is gone.
      expect(g.environment?.DOORSTEP_CONNECT_RATE_PER_ADDRESS).toBeUndefined()
    }
    // The shipped config sends the PROXY header on both MQTT backends.
    const text = fs.readFileSync(SHIPPED_CONFIG, 'utf8')
    expect(text.match(/default-server .*send-proxy-v2/g)).toHaveLength(2)
  })

  it('declares every named volume it mounts and names only services it has', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] ?? ''
        // Files the operator puts in place (the monitoring token) are not in the repository.
        if (source.startsWith('.')) {
          if (s.profiles?.includes('cluster'))
            expect(fs.existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true)
        } else expect(compose.volumes, `${name}: ${source}`).toHaveProperty(source)
      }
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})
      for (const d of deps) expect(compose.services, `${name} depends on ${d}`).toHaveProperty(d)
    }
  })
})
