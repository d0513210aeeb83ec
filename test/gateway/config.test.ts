import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../gateway/src/config.js'

describe('config', () => {
  it('has sane defaults', () => {
    const c = loadConfig({})
    expect(c.host).toBe('127.0.0.1')
    expect(c.mqttPort).toBe(1883)
    expect(c.httpPort).toBe(8080)
    expect(c.influx.url).toBeUndefined()
    expect(c.influx.db).toBe('doorstep')
    expect(Object.isFrozen(c) && Object.isFrozen(c.ingest)).toBe(true)
  })

  it('reports every bad variable at once, naming each and what is allowed', () => {
    try {
      loadConfig({ DOORSTEP_MQTT_PORT: 'abc', DOORSTEP_HTTP_PORT: '70000', DOORSTEP_LOG_LEVEL: 'loud' })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      const p = (err as ConfigError).problems
      expect(p).toHaveLength(3)
      expect(p.find((l) => l.startsWith('DOORSTEP_MQTT_PORT:'))).toBeDefined()
      expect(p.find((l) => l.startsWith('DOORSTEP_HTTP_PORT:'))).toMatch(/65535/)
      expect(p.find((l) => l.startsWith('DOORSTEP_LOG_LEVEL:'))).toMatch(/info/)
    }
  })

  it('takes retention in fractions of a day, sweep intervals and a clip room, and refuses zero', () => {
    const d = loadConfig({})
    expect(d.clips.sweepIntervalMs).toBe(600_000)
    expect(d.events.sweepIntervalMs).toBe(6 * 3_600_000)
    expect(d.clips.diskBytes).toBeNull()
    const c = loadConfig({
      DOORSTEP_CLIP_RETENTION_DAYS: '0.002',
      DOORSTEP_EVENT_RETENTION_DAYS: '0.5',
      DOORSTEP_CLIP_SWEEP_INTERVAL_S: '20',
      DOORSTEP_EVENT_SWEEP_INTERVAL_S: '30',
      DOORSTEP_CLIP_DISK_BYTES: '1048576',
    })
    expect(c.clips.retentionDays).toBe(0.002)
    expect(c.events.retentionDays).toBe(0.5)
    expect(c.clips.sweepIntervalMs).toBe(20_000)
    expect(c.events.sweepIntervalMs).toBe(30_000)
    expect(c.clips.diskBytes).toBe(1_048_576)
    expect(() => loadConfig({ DOORSTEP_CLIP_RETENTION_DAYS: '0' })).toThrow(/DOORSTEP_CLIP_RETENTION_DAYS/)
    expect(() => loadConfig({ DOORSTEP_CLIP_SWEEP_INTERVAL_S: '0.5' })).toThrow(
      /DOORSTEP_CLIP_SWEEP_INTERVAL_S/,
    )
  })

  it('refuses unknown DOORSTEP_ variables (a typo must not be silently ignored)', () => {
    expect(() => loadConfig({ DOORSTEP_MQTT_PROT: '1' })).toThrow(/DOORSTEP_MQTT_PROT: unknown setting/)
  })

  it('never echoes a value back (a token typed into the wrong variable stays secret)', () => {
    const secret = 'short-secret'
    try {
      loadConfig({ DOORSTEP_ADMIN_TOKEN: secret })
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).toContain('DOORSTEP_ADMIN_TOKEN')
      expect((err as Error).message).not.toContain(secret)
    }
  })

  it('accepts an InfluxDB URL and refuses other schemes', () => {
    expect(loadConfig({ DOORSTEP_INFLUX_URL: 'http://10.0.0.5:8086' }).influx.url).toBe(
      'http://10.0.0.5:8086',
    )
    expect(() => loadConfig({ DOORSTEP_INFLUX_URL: 'ftp://x' })).toThrow(ConfigError)
  })

  it('sizes the MQTT packet limit from the payload limit unless set, and refuses one too small for a payload', () => {
    expect(loadConfig({}).mqtt.maxPacketBytes).toBe(4 * 16 * 1024)
    expect(loadConfig({ DOORSTEP_MAX_PAYLOAD_BYTES: '100000' }).mqtt.maxPacketBytes).toBe(400_000)
    expect(loadConfig({ DOORSTEP_MQTT_MAX_PACKET_BYTES: '20000' }).mqtt.maxPacketBytes).toBe(20_000)
    expect(() => loadConfig({ DOORSTEP_MQTT_MAX_PACKET_BYTES: '16384' })).toThrow(
      /DOORSTEP_MQTT_MAX_PACKET_BYTES: must be at least DOORSTEP_MAX_PAYLOAD_BYTES \+ 1024 \(17408\)/,
    )
    expect(loadConfig({}).ingest.helloMaxPerMin).toBe(6)
  })

  it('shares MQTT through Redis only when a redis:// URL is set, and names the node safely', () => {
    const single = loadConfig({})
    expect(single.cluster.redisUrl).toBeNull()
    expect(single.cluster.nodeId).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
    expect(single.cluster.nodeId.endsWith(`-${process.pid}`)).toBe(true)
    const c = loadConfig({ DOORSTEP_REDIS_URL: 'redis://10.0.0.7:6379/0', DOORSTEP_NODE_ID: 'gw-2.east' })
    expect(c.cluster).toEqual({
      redisUrl: 'redis://10.0.0.7:6379/0',
      nodeId: 'gw-2.east',
      databaseUrl: null,
      trustedProxies: [],
    })
    expect(loadConfig({ DOORSTEP_REDIS_URL: 'rediss://r.example:6380' }).cluster.redisUrl).toBe(
      'rediss://r.example:6380',
    )
    // A node id goes into $SYS topics and Redis keys: no level separators, wildcards or key separators.
    for (const bad of ['a/b', 'a+b', '#', 'a:b', '-lead', 'x'.repeat(65)]) {
      expect(() => loadConfig({ DOORSTEP_NODE_ID: bad }), bad).toThrow(/DOORSTEP_NODE_ID: must be 1-64/)
    }
    try {
      loadConfig({ DOORSTEP_REDIS_URL: 'http://:pw-in-a-wrong-url@10.0.0.7:6379' })
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).toMatch(/DOORSTEP_REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/)
      expect((err as Error).message).not.toContain('pw-in-a-wrong-url')
    }
  })

  it('keeps the shared state in PostgreSQL only when a postgres:// URL is set, never echoing its password', () => {
    expect(loadConfig({}).cluster.databaseUrl).toBeNull()
    for (const url of ['postgres://gw:pw@10.0.0.8:5432/doorstep', 'postgresql://10.0.0.8/doorstep']) {
      expect(loadConfig({ DOORSTEP_DATABASE_URL: url }).cluster.databaseUrl).toBe(url)
    }
    try {
      loadConfig({ DOORSTEP_DATABASE_URL: 'mysql://gw:pw-in-a-wrong-url@10.0.0.8/doorstep' })
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).toMatch(
        /DOORSTEP_DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/,
      )
      expect((err as Error).message).not.toContain('pw-in-a-wrong-url')
    }
  })
})
