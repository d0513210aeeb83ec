import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERRORS, type ErrorCode } from '../../gateway/src/errors.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'

/**
 * The API document is made from the routes themselves (their schemas, their
 * `config.access` and `config.errors`). These tests hold it to the OpenAPI 3.1
 * schema, to the gateway's answers over real HTTP, and to the README's table.
 */

interface Parameter {
  in: string
  name: string
  required?: boolean
  schema?: { type?: string; format?: string; pattern?: string }
}
interface Operation {
  parameters?: Parameter[]
  requestBody?: unknown
  responses: Record<string, unknown>
  security?: Array<Record<string, string[]>>
  'x-doorstep-roles': string[]
  'x-doorstep-errors': string[]
}
interface Doc {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> }
}

const METHODS = ['get', 'head', 'put', 'post', 'delete', 'patch']
const UUID = '00000000-0000-4000-8000-000000000000'

/** Every operation as `METHOD /path/:param`, the form the README and Fastify use. */
function operations(doc: Doc): Array<{ key: string; method: string; url: string; op: Operation }> {
  const out: Array<{ key: string; method: string; url: string; op: Operation }> = []
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      if (!METHODS.includes(m)) continue
      const url = p.replace(/\{([^}]+)\}/g, ':$1')
      out.push({ key: `${m.toUpperCase()} ${url}`, method: m.toUpperCase(), url, op })
    }
  }
  return out
}

/** A value each path parameter accepts (so validation passes and the route itself answers). */
function concreteUrl(url: string, op: Operation): string {
  return url.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const s = op.parameters?.find((p) => p.in === 'path' && p.name === name)?.schema
    if (s?.format === 'uuid') return UUID
    if (s?.type === 'integer' || s?.type === 'number') return '999999'
    return 'cam-nobody-00001'
  })
}

/** `| \`GET /api/v1/x?a=\` (note) | admin, ops (\`?token=\` allowed) | … |` → route, roles, token note. */
function readmeRows(): Array<{ key: string; roles: string[]; tokenInQuery: boolean }> {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8')
  const section = readme.slice(
    readme.indexOf('## HTTP API'),
    readme.indexOf('\n## ', readme.indexOf('## HTTP API') + 1),
  )
  const rows: Array<{ key: string; roles: string[]; tokenInQuery: boolean }> = []
  for (const line of section.split('\n')) {
    const m = /^\| `([A-Z]+) ([^`?]+)[^`]*`[^|]*\| ([^|]+) \|/.exec(line)
    if (!m) continue
    const rolesCell = m[3] ?? ''
    rows.push({
      key: `${m[1]} ${m[2]}`,
      roles: (rolesCell.split('(')[0] ?? '')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean)
        .sort(),
      tokenInQuery: rolesCell.includes('`?token=` allowed'),
    })
  }
  return rows
}

describe('the OpenAPI document', () => {
  let t: TestGateway
  let base: string
  let doc: Doc

  beforeAll(async () => {
    t = await startTestGateway()
    const { port } = t.gateway.http.server.address() as AddressInfo
    base = `http://127.0.0.1:${port}`
    const res = await fetch(`${base}/api/v1/openapi.json`)
    expect(res.status).toBe(200)
    doc = (await res.json()) as Doc
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0')
    // The validator dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined()
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'bearer',
      'deviceBasic',
      'tokenQuery',
    ])
    expect(doc.components.schemas.ErrorBody).toBeDefined()
  })

  it('gives every operation its roles, its security and each error code with the error envelope', () => {
    const ops = operations(doc)
    expect(ops.length).toBeGreaterThan(40)
    const problems: string[] = []
    for (const { key, op } of ops) {
      const roles = op['x-doorstep-roles']
      if (!Array.isArray(roles) || roles.length === 0) problems.push(`${key}: no x-doorstep-roles`)
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s))
      if (roles.includes('public') && schemes.length > 0)
        problems.push(`${key}: public but requires ${schemes}`)
      if (roles.includes('device') && schemes.join() !== 'deviceBasic')
        problems.push(`${key}: device, ${schemes}`)
      if (!roles.includes('public') && !roles.includes('device') && !schemes.includes('bearer'))
        problems.push(`${key}: people's route without bearer`)
      for (const code of op['x-doorstep-errors']) {
        const known = ERRORS[code as ErrorCode]
        if (!known) {
          problems.push(`${key}: unknown code ${code}`)
          continue
        }
        const r = op.responses[String(known.status)] as
          | { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }
          | undefined
        if (!r?.description?.includes(code)) problems.push(`${key}: ${code} not under ${known.status}`)
        const ref = r?.content?.['application/json']?.schema?.$ref
        if (ref !== '#/components/schemas/ErrorBody')
          problems.push(`${key}: ${known.status} is not ErrorBody`)
      }
      if (!Object.keys(op.responses).some((s) => /^[123]/.test(s))) problems.push(`${key}: no success answer`)
    }
    expect(problems).toEqual([])
  })

  it('documents the resumable upload protocol: Content-Range and Repr-Digest in, Upload-Offset out', () => {
    const op = (method: string, p: string) =>
      doc.paths[p]?.[method] as Operation & {
        responses: Record<string, { headers?: Record<string, unknown> }>
      }
    const headerParams = (o: Operation) =>
      (o.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name)
    expect(headerParams(op('put', '/api/v1/clips/{eventId}'))).toContain('content-range')
    expect(headerParams(op('put', '/api/v1/pulls/{id}/upload'))).toEqual(
      expect.arrayContaining(['content-range', 'repr-digest']),
    )
    for (const p of ['/api/v1/clips/{eventId}', '/api/v1/pulls/{id}/upload']) {
      expect(Object.keys(op('head', p).responses['200']?.headers ?? {})).toContain('upload-offset')
      for (const status of ['200', '201', '202'])
        expect(Object.keys(op('put', p).responses[status]?.headers ?? {})).toContain('upload-offset')
      expect(op('put', p)['x-doorstep-errors']).toContain('DOORSTEP_ERR_UPLOAD_OFFSET')
    }
  })

  it('holds the same routes and roles as the README table', () => {
    const fromDoc = new Map(
      operations(doc).map(({ key, op }) => [
        key,
        {
          roles: [...op['x-doorstep-roles']].sort(),
          tokenInQuery: (op.security ?? []).some((s) => 'tokenQuery' in s),
        },
      ]),
    )
    const rows = readmeRows()
    const fromReadme = new Map(rows.map((r) => [r.key, r]))
    expect(fromReadme.size, 'a route twice in the README table').toBe(rows.length)
    expect(
      [...fromDoc.keys()].filter((k) => !fromReadme.has(k)),
      'in the document, not in README',
    ).toEqual([])
    expect(
      [...fromReadme.keys()].filter((k) => !fromDoc.has(k)),
      'in README, not in the document',
    ).toEqual([])
    const differ: string[] = []
    for (const [key, d] of fromDoc) {
      const r = fromReadme.get(key)
      if (!r) continue
      if (r.roles.join() !== d.roles.join()) differ.push(`${key}: README ${r.roles}, document ${d.roles}`)
      if (r.tokenInQuery !== d.tokenInQuery)
        differ.push(`${key}: README says ?token= ${r.tokenInQuery}, document ${d.tokenInQuery}`)
    }
    expect(differ).toEqual([])
  })

  it('matches the gateway over HTTP: every route exists and answers its documented status without credentials', async () => {
    const problems: string[] = []
    for (const { key, method, url, op } of operations(doc)) {
      const roles = op['x-doorstep-roles']
      const body = op.requestBody === undefined ? undefined : '{}'
      const res = await fetch(base + concreteUrl(url, op), {
        method,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      })
      const text = method === 'HEAD' ? '' : await res.text()
      if (res.status === 404 && text.includes('No route')) {
        problems.push(`${key}: no such route`)
        continue
      }
      if (!(String(res.status) in op.responses))
        problems.push(`${key}: answered ${res.status}, not documented`)
      if (roles.includes('public')) {
        if (res.status !== 200) problems.push(`${key}: public but answered ${res.status}`)
        continue
      }
      if (res.status !== 401) {
        problems.push(`${key}: answered ${res.status} without credentials, not 401`)
        continue
      }
      if (method === 'HEAD') continue
      const code = (JSON.parse(text) as { error: { code: string } }).error.code
      const expected = roles.includes('device')
        ? 'DOORSTEP_ERR_DEVICE_UNAUTHENTICATED'
        : 'DOORSTEP_ERR_UNAUTHENTICATED'
      if (code !== expected) problems.push(`${key}: 401 with ${code}, not ${expected}`)
      if (!op['x-doorstep-errors'].includes(code)) problems.push(`${key}: ${code} not in x-doorstep-errors`)
    }
    expect(problems).toEqual([])
  })

  it('documents what an admin meets on each route it may call', async () => {
    // Reads and refused writes only: filler ids name nothing, `{}` is no valid body of a write
    // that changes anything (a pull request for a case that does not exist is refused).
    const problems: string[] = []
    let called = 0
    for (const { key, method, url, op } of operations(doc)) {
      const roles = op['x-doorstep-roles']
      if (roles.includes('public') || roles.includes('device') || key === 'GET /api/v1/alerts') continue
      const body = op.requestBody === undefined ? undefined : '{}'
      const res = await fetch(base + concreteUrl(url, op), {
        method,
        headers: {
          authorization: `Bearer ${t.adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
      })
      await res.arrayBuffer()
      called++
      if (!(String(res.status) in op.responses))
        problems.push(`${key}: an admin got ${res.status}, not documented`)
      if (res.status >= 500) problems.push(`${key}: ${res.status}`)
    }
    expect(called).toBeGreaterThan(30)
    expect(problems).toEqual([])
  })

  it("refuses what a route's schema refuses with the one error envelope, naming each field", async () => {
    const call = async (method: string, url: string, body?: string) => {
      const res = await fetch(base + url, {
        method,
        headers: {
          authorization: `Bearer ${t.adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
      })
      return { status: res.status, body: (await res.json()) as { error: Record<string, unknown> } }
    }
    const issuesOf = (b: { error: Record<string, unknown> }) =>
      (b.error.details as { issues: Array<{ path: string; message: string }> }).issues
    // body, params, query, and the body as a whole
    const body = await call('POST', '/api/v1/devices', JSON.stringify({ serial: '', district: 99 }))
    expect(body.status).toBe(400)
    expect(body.body.error.code).toBe('DOORSTEP_ERR_BAD_REQUEST')
    expect(issuesOf(body.body).map((i) => i.path)).toEqual(
      expect.arrayContaining(['serial', 'district', 'address', 'ownerContact', 'lat', 'lon']),
    )
    expect(body.body.error.message).toMatch(/^serial: /)
    const params = await call('GET', '/api/v1/events/not-a-uuid')
    expect(params.status).toBe(400)
    expect(issuesOf(params.body).map((i) => i.path)).toEqual(['id'])
    const query = await call('GET', '/api/v1/devices?limit=0')
    expect(query.status).toBe(400)
    expect(issuesOf(query.body)).toEqual([{ path: 'limit', message: expect.any(String) }])
    expect(query.body.error.message).toBe(`limit: ${issuesOf(query.body)[0]?.message}`)
    const whole = await call('POST', '/api/v1/tokens', '[]')
    expect(whole.status).toBe(400)
    expect(issuesOf(whole.body)[0]?.path).toBe('')
    expect(whole.body.error.message).toMatch(/^\(body\): /)
  })

  it('is browsable at /docs', async () => {
    const res = await fetch(`${base}/docs`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(await res.text()).toContain('swagger-ui')
  })
})
