import type { MapResponse } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ConfigError, configFrom } from '../../gateway/src/config.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'

describe('GET /api/v1/map (real gateway, real aedes over TCP)', () => {
  let t: TestGateway
  let tiled: TestGateway
  beforeAll(async () => {
    ;[t, tiled] = await Promise.all([
      startTestGateway(),
      startTestGateway({
        DOORSTEP_MAP_TILES: 'http://127.0.0.1:9/{z}/{x}/{y}.png',
        DOORSTEP_MAP_ATTRIBUTION: 'Test tiles',
        DOORSTEP_MAP_MAX_ZOOM: 17,
      }),
    ])
  })
  afterAll(async () => {
    await Promise.all([t?.stop(), tiled?.stop()])
  })

  it("lists every unit's position and live state, and no tiles by default", async () => {
    const a = await t.gateway.registry.create(
      deviceRow({ id: 'cam-map-a', district: 3, lat: 29.31, lon: 117.21 }),
    )
    await t.gateway.registry.create(deviceRow({ id: 'cam-map-b', district: 4, lat: 29.32, lon: 117.22 }))
    const unit = await connectUnit(t.gateway.mqttUrl, a.id, a.secret)
    const res = await api<MapResponse>(t.gateway.httpUrl, 'GET', '/api/v1/map', t.adminToken)
    expect(res.status).toBe(200)
    expect(res.body.tiles).toBeNull()
    const byId = new Map(res.body.units.map((u) => [u.id, u]))
    expect(byId.get('cam-map-a')).toEqual({
      id: 'cam-map-a',
      district: 3,
      lat: 29.31,
      lon: 117.21,
      state: 'online',
    })
    expect(byId.get('cam-map-b')).toEqual({
      id: 'cam-map-b',
      district: 4,
      lat: 29.32,
      lon: 117.22,
      state: 'unknown',
    })
    // Nothing a map does not need: no owner, address or secret material.
    expect(Object.keys(byId.get('cam-map-a') ?? {}).sort()).toEqual(['district', 'id', 'lat', 'lon', 'state'])

    await end(unit)
    await expect
      .poll(async () => {
        const again = await api<MapResponse>(t.gateway.httpUrl, 'GET', '/api/v1/map', t.adminToken)
        return again.body.units.find((u) => u.id === 'cam-map-a')?.state
      })
      .toBe('offline')
  })

  it('is for staff: an investigator reads it, an owner is refused', async () => {
    const inv = (await t.gateway.tokens.issue('Map Investigator', 'investigator')).token
    const owner = (await t.gateway.tokens.issue('Map Owner', 'owner', 'owner@example.org')).token
    expect((await api(t.gateway.httpUrl, 'GET', '/api/v1/map', inv)).status).toBe(200)
    expect((await api(t.gateway.httpUrl, 'GET', '/api/v1/map', owner)).status).toBe(403)
  })

  it('passes the configured tile source to the dashboard', async () => {
    const res = await api<MapResponse>(tiled.gateway.httpUrl, 'GET', '/api/v1/map', tiled.adminToken)
    expect(res.body.tiles).toEqual({
      url: 'http://127.0.0.1:9/{z}/{x}/{y}.png',
      attribution: 'Test tiles',
      maxZoom: 17,
    })
  })
})

describe('DOORSTEP_MAP_TILES', () => {
  it('must be an http(s) XYZ template', () => {
    const problems = (v: string) => {
      try {
        configFrom({ DOORSTEP_MAP_TILES: v })
        return []
      } catch (err) {
        return (err as ConfigError).problems
      }
    }
    expect(problems('https://tiles.example/{z}/{x}/{y}.png')).toEqual([])
    expect(problems('https://{s}.tiles.example/{z}/{x}/{y}.png')).toEqual([])
    expect(problems('https://tiles.example/{z}/{x}.png')).toEqual([
      'DOORSTEP_MAP_TILES: must contain {z}, {x} and {y}',
    ])
    expect(problems('file:///srv/tiles/{z}/{x}/{y}.png')[0]).toMatch(/^DOORSTEP_MAP_TILES: /)
  })
})
