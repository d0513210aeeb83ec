import fs from 'node:fs'
import path from 'node:path'
import type { Role } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Access, ROLES } from '../../gateway/src/auth/roles.js'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'

/**
 * Who may call what: EVERY route of the gateway must be listed here. A route
 * added without an entry fails the first test, so its access is decided on
 * purpose. HEAD routes Fastify adds for a GET follow the GET's entry.
 */
const EXPECTED: Record<string, Access> = {
  'GET /': 'public',
  'GET /api/v1/ping': 'public',
  // the API document and its browsable reference (the reference's own files and spec copies)
  'GET /api/v1/openapi.json': 'public',
  'GET /docs': 'public',
  'GET /docs/': 'public',
  'GET /docs/json': 'public',
  'GET /docs/yaml': 'public',
  'GET /docs/static/index.html': 'public',
  'GET /docs/static/swagger-initializer.js': 'public',
  'GET /docs/*': 'public',
  'GET /metrics': ROLES.fleet,
  'GET /api/v1/health': ROLES.staff,
  'POST /api/v1/devices': ROLES.fleet,
  'POST /api/v1/devices/import': ROLES.fleet,
  'GET /api/v1/devices': ROLES.staff,
  'GET /api/v1/devices/:id': ROLES.staff,
  'GET /api/v1/devices/:id/heartbeats': ROLES.staff,
  'GET /api/v1/map': ROLES.staff,
  'POST /api/v1/devices/:id/disable': ROLES.fleet,
  'POST /api/v1/devices/:id/enable': ROLES.fleet,
  'POST /api/v1/devices/:id/rotate-secret': ROLES.fleet,
  'GET /api/v1/alerts': ROLES.staff,
  'GET /api/v1/events': ROLES.staff,
  'GET /api/v1/events/:id': ROLES.staff,
  'HEAD /api/v1/clips/:eventId': 'device',
  'PUT /api/v1/clips/:eventId': 'device',
  'GET /api/v1/clips/:eventId': ROLES.fleet,
  'GET /api/v1/clips/:eventId/thumb': ROLES.fleet,
  'POST /api/v1/holds': ROLES.custody,
  'GET /api/v1/holds': ROLES.custody,
  'DELETE /api/v1/holds/:id': ROLES.custody,
  // units' remote configuration: a fleet matter
  'PUT /api/v1/config/devices/:id': ROLES.fleet,
  'PUT /api/v1/config/districts/:district': ROLES.fleet,
  'PUT /api/v1/config/fleet': ROLES.fleet,
  'GET /api/v1/config/devices/:id': ROLES.fleet,
  'GET /api/v1/config': ROLES.fleet,
  // people
  'GET /api/v1/me': ROLES.all,
  'GET /api/v1/tokens': ROLES.admin,
  'POST /api/v1/tokens': ROLES.admin,
  'DELETE /api/v1/tokens/:id': ROLES.admin,
  'POST /api/v1/tokens/retire-bootstrap': ROLES.admin,
  'GET /api/v1/my/devices': ROLES.owner,
  'GET /api/v1/my/devices/:id/events': ROLES.owner,
  'GET /api/v1/my/clips/:eventId': ROLES.owner,
  'GET /api/v1/my/consents': ROLES.owner,
  'POST /api/v1/my/consents/:pullId': ROLES.owner,
  // notifications: admins manage channels and rules; staff subscribe their browsers to Web Push
  'GET /api/v1/notify/channels': ROLES.admin,
  'POST /api/v1/notify/channels': ROLES.admin,
  'DELETE /api/v1/notify/channels/:id': ROLES.admin,
  'GET /api/v1/notify/rules': ROLES.admin,
  'POST /api/v1/notify/rules': ROLES.admin,
  'DELETE /api/v1/notify/rules/:id': ROLES.admin,
  'GET /api/v1/notify/rules/:id/notifications': ROLES.admin,
  'GET /api/v1/notify/dead-letters': ROLES.admin,
  'GET /api/v1/notify/push/key': ROLES.staff,
  'POST /api/v1/notify/push/subscriptions': ROLES.staff,
  'DELETE /api/v1/notify/push/subscriptions/:id': ROLES.staff,
  // audit
  'GET /api/v1/audit': ROLES.admin,
  'GET /api/v1/audit/verify': ROLES.admin,
  // firmware: admins upload images and run campaigns, ops watch; units download what they were offered;
  // the signing key is public, as units must check images against it
  'POST /api/v1/firmware/images': ROLES.admin,
  'GET /api/v1/firmware/images': ROLES.fleet,
  'GET /api/v1/firmware/images/:id': ROLES.fleet,
  'GET /api/v1/firmware/images/:id/download': 'device',
  'GET /api/v1/firmware/key': 'public',
  'POST /api/v1/campaigns': ROLES.admin,
  'GET /api/v1/campaigns': ROLES.fleet,
  'GET /api/v1/campaigns/:id': ROLES.fleet,
  'GET /api/v1/campaigns/:id/units': ROLES.fleet,
  'POST /api/v1/campaigns/:id/start': ROLES.admin,
  'POST /api/v1/campaigns/:id/pause': ROLES.admin,
  'POST /api/v1/campaigns/:id/resume': ROLES.admin,
  'POST /api/v1/campaigns/:id/cancel': ROLES.admin,
  // evidence: the signing keys are public, like a certificate
  'GET /api/v1/evidence/keys': 'public',
  // cases and pulls
  'POST /api/v1/cases': ROLES.custody,
  'POST /api/v1/cases/preview': ROLES.custody,
  'GET /api/v1/cases': ROLES.custody,
  'GET /api/v1/cases/:id': ROLES.custody,
  'POST /api/v1/cases/:id/close': ROLES.custody,
  'POST /api/v1/cases/:id/pulls': ROLES.custody,
  'GET /api/v1/cases/:id/pulls': ROLES.custody,
  'GET /api/v1/cases/:id/custody': ROLES.custody,
  'GET /api/v1/cases/:id/export': ROLES.custody,
  'GET /api/v1/pulls/:id': ROLES.custody,
  'GET /api/v1/pulls/:id/recording': ROLES.custody,
  'POST /api/v1/pulls/:id/legal-order': ROLES.admin,
  'HEAD /api/v1/pulls/:id/upload': 'device',
  'PUT /api/v1/pulls/:id/upload': 'device',
}

const ALL_ROLES: Role[] = ['admin', 'ops', 'investigator', 'owner']
const FILLER = '00000000-0000-4000-8000-000000000000'

/**
 * Every (method, path) Fastify routes, read from `printRoutes({ commonPrefix: false })`:
 * a tree whose lines are `<prefix>── <segment> (METHODS)`, indented four columns a level.
 */
function routesOf(tree: string): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[└├]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = (m[1] ?? '').length / 4
    stack.length = depth
    const url = (stack[depth - 1] ?? '') + (m[2] ?? '')
    stack.push(url)
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      out.push({ method, url })
  }
  return out
}

function expectedFor(method: string, url: string): Access | undefined {
  const own = EXPECTED[`${method} ${url}`]
  if (own !== undefined || method !== 'HEAD') return own
  return EXPECTED[`GET ${url}`]
}

const isStaticFile = (url: string) =>
  url !== '/' &&
  !url.startsWith('/api/') &&
  url !== '/metrics' &&
  fs.existsSync(path.join(DASHBOARD_DIST, url))

describe('every route declares who may call it, and the gateway holds to it', () => {
  let t: TestGateway
  const tokens = new Map<Role, string>()
  let routes: Array<{ method: string; url: string }>

  beforeAll(async () => {
    // The walk presents a revoked token to every route from one address: far more refusals than
    // the failed-authentication throttle lets one address make (that is tested in auth-throttle).
    t = await startTestGateway({ DOORSTEP_AUTH_FAIL_LIMIT: 10_000 })
    for (const role of ALL_ROLES) {
      tokens.set(
        role,
        (await t.gateway.tokens.issue(`walk-${role}`, role, role === 'owner' ? 'walker@example.org' : null))
          .token,
      )
    }
    routes = routesOf(t.gateway.http.printRoutes({ commonPrefix: false }))
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('finds the routes, and each has an entry in the expected-access table', () => {
    expect(routes.length).toBeGreaterThan(30)
    const missing = routes
      .filter((r) => !isStaticFile(r.url))
      .filter((r) => expectedFor(r.method, r.url) === undefined)
      .map((r) => `${r.method} ${r.url}`)
    expect(missing, 'routes without an entry in EXPECTED (decide who may call them)').toEqual([])
    // And the table lists nothing that is not there (a renamed route).
    const present = new Set(routes.map((r) => `${r.method} ${r.url}`))
    const stale = Object.keys(EXPECTED).filter((k) => !present.has(k))
    expect(stale, 'entries in EXPECTED for routes that do not exist').toEqual([])
  })

  it('refuses without a token (401) and with a wrong role (403); lets the right roles through', async () => {
    const app = t.gateway.http
    const failures: string[] = []
    for (const r of routes) {
      const access: Access = isStaticFile(r.url) ? 'public' : (expectedFor(r.method, r.url) as Access)
      const url = r.url.replace(/:[A-Za-z]+/g, FILLER).replace(/\*/g, 'x')
      // Upload routes refuse any other type (415) before they look at credentials or read the body.
      const type = access === 'device' && r.method === 'PUT' ? 'application/octet-stream' : 'application/json'
      const call = async (headers: Record<string, string>) => {
        const res = await app.inject({
          method: r.method as 'GET',
          url,
          headers: { 'content-type': type, ...headers },
          ...(r.method === 'GET' || r.method === 'HEAD' || r.method === 'DELETE' ? {} : { payload: '{}' }),
        })
        const code = (() => {
          try {
            return (res.json() as { error?: { code?: string } }).error?.code
          } catch {
            return undefined
          }
        })()
        return { status: res.statusCode, code }
      }
      const anon = await call({})
      const label = `${r.method} ${r.url}`
      if (access === 'public') {
        if (anon.status === 401 || anon.status === 403)
          failures.push(`${label}: public but answered ${anon.status}`)
        continue
      }
      if (anon.status !== 401) failures.push(`${label}: without credentials answered ${anon.status}, not 401`)
      for (const role of ALL_ROLES) {
        const res = await call(bearer(tokens.get(role) ?? ''))
        if (access === 'device') {
          // A person's token is no unit's credentials.
          if (res.status !== 401) failures.push(`${label}: device route answered ${role} with ${res.status}`)
          continue
        }
        const allowed = access.includes(role)
        // A HEAD answer has no body to carry the code: its status says it.
        const forbidden = res.status === 403 && (r.method === 'HEAD' || res.code === 'DOORSTEP_ERR_FORBIDDEN')
        if (allowed && (res.status === 401 || forbidden)) {
          failures.push(`${label}: ${role} may call it but got ${res.status} ${res.code}`)
        }
        if (!allowed && !forbidden) {
          failures.push(`${label}: ${role} may not call it but got ${res.status} ${res.code ?? ''}`)
        }
      }
      const revoked = await t.gateway.tokens.issue('walk-revoked', 'admin')
      await t.gateway.tokens.revoke(revoked.id)
      const res = await call(bearer(revoked.token))
      if (access !== 'device' && res.status !== 401)
        failures.push(`${label}: a revoked token got ${res.status}`)
    }
    expect(failures).toEqual([])
  })
})
