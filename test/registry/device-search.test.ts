import type { DeviceListResponse } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'

describe('GET /api/v1/devices?q= (real gateway)', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway()
    await t.gateway.registry.create(
      deviceRow({ id: 'cam-oak-1', serial: 'SN-XQ-1', address: '1 Oak St', district: 4 }),
    )
    await t.gateway.registry.create(
      deviceRow({ id: 'cam-oak-2', serial: 'SN-XQ-2', address: '2 Oak St', district: 5 }),
    )
    await t.gateway.registry.create(
      deviceRow({ id: 'cam-elm-1', serial: 'SN-ZZ-9', address: '9 Elm Rd', district: 4 }),
    )
  })
  afterAll(async () => {
    await t?.stop()
  })
  const ids = async (query: string) => {
    const res = await api<DeviceListResponse>(
      t.gateway.httpUrl,
      'GET',
      `/api/v1/devices?${query}`,
      t.adminToken,
    )
    expect(res.status).toBe(200)
    return res.body.devices.map((d) => d.id)
  }

  it('finds units by part of their id, serial or address, in any case', async () => {
    expect(await ids('q=OAK%20st')).toEqual(['cam-oak-1', 'cam-oak-2'])
    expect(await ids('q=sn-zz')).toEqual(['cam-elm-1'])
    expect(await ids('q=elm-1')).toEqual(['cam-elm-1'])
    expect(await ids('q=nowhere')).toEqual([])
  })

  it('combines with the district and the page size', async () => {
    expect(await ids('q=oak&district=5')).toEqual(['cam-oak-2'])
    const res = await api<DeviceListResponse>(
      t.gateway.httpUrl,
      'GET',
      '/api/v1/devices?q=oak&limit=1',
      t.adminToken,
    )
    expect(res.body.total).toBe(2)
    expect(res.body.devices.map((d) => d.id)).toEqual(['cam-oak-1'])
  })

  it('refuses an empty or overlong search', async () => {
    expect((await api(t.gateway.httpUrl, 'GET', '/api/v1/devices?q=%20', t.adminToken)).status).toBe(400)
    expect(
      (await api(t.gateway.httpUrl, 'GET', `/api/v1/devices?q=${'x'.repeat(101)}`, t.adminToken)).status,
    ).toBe(400)
  })
})
