import fs from 'node:fs'
import path from 'node:path'
import type { AuditEntry, DeviceListResponse, DeviceView, TokenView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'

/*
 * The admins' room in a real Chromium against a real gateway: an admin issues an
 * investigator's token (shown once, with a Copy button) and revokes it, after which
 * the token gets 401; a CSV with one bad row names that row and imports nothing, a
 * good one imports every row; a unit is disabled and enabled again; the audit log
 * filters by action and by actor, pages with the filter on, and its chain checks out. The role checks stay on the gateway: an investigator's token is refused
 * the admin routes, and the admin pages show it "Not for your role". The people page
 * in Chinese.
 */

const UI_TIMEOUT = 15_000
/** Entries on one page of the audit page (`PAGE` in its view). */
const AUDIT_PAGE = 50
const HEADER = 'id,serial,district,address,ownerContact,lat,lon,model,firmware'

describe("the admins' room", () => {
  let gw: TestGateway
  let tb: TestBrowser | null = null
  let investigator: string
  const run = `${process.pid}`

  const open = async (b: TestBrowser, hash: string, testid: string) => {
    await b.page.goto(`${gw.gateway.httpUrl}${hash}`)
    await b.page.getByTestId(testid).waitFor({ timeout: UI_TIMEOUT })
  }
  const device = (id: string) =>
    api<DeviceView>(gw.gateway.httpUrl, 'GET', `/api/v1/devices/${id}`, gw.adminToken)
  const allDevices = async () =>
    (await api<DeviceListResponse>(gw.gateway.httpUrl, 'GET', '/api/v1/devices', gw.adminToken)).body.devices

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    gw = await startTestGateway()
    investigator = (await gw.gateway.tokens.issue('Det. Insp. Chen', 'investigator')).token
  })

  afterAll(async () => {
    await tb?.close()
    await gw?.stop()
  })

  it('keeps the role checks on the gateway: an investigator is refused tokens and audit', async () => {
    const tokens = await api(gw.gateway.httpUrl, 'GET', '/api/v1/tokens', investigator)
    expect(tokens.status).toBe(403)
    const audit = await api(gw.gateway.httpUrl, 'GET', '/api/v1/audit', investigator)
    expect(audit.status).toBe(403)
    const issue = await api(gw.gateway.httpUrl, 'POST', '/api/v1/tokens', investigator, {
      name: 'x',
      role: 'admin',
    })
    expect(issue.status).toBe(403)
  })

  it('shows an investigator "Not for your role" on every admin page, and no admin link', async () => {
    const b = await launchBrowser()
    try {
      await signIn(b.page, investigator, gw.gateway.httpUrl)
      await b.page.getByTestId('nav-fleet').waitFor({ timeout: UI_TIMEOUT })
      expect(await b.page.getByTestId('nav-admin-people').count()).toBe(0)
      for (const hash of ['#/admin/people', '#/admin/units', '#/admin/audit']) {
        await open(b, hash, 'forbidden')
        expect(await b.page.getByTestId('admin-people').count()).toBe(0)
      }
      // The page hides nothing the server would give: the signed-in browser asking the admin routes
      // itself, with the session's own token, is refused every one.
      const statuses = await b.page.evaluate(async () => {
        const token = sessionStorage.getItem('doorstep.token') ?? ''
        const ask = (method: string, url: string, body?: string) =>
          fetch(url, {
            method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            ...(body === undefined ? {} : { body }),
          }).then((r) => r.status)
        return {
          token: token.length > 0,
          tokens: await ask('GET', 'api/v1/tokens'),
          audit: await ask('GET', 'api/v1/audit'),
          chain: await ask('GET', 'api/v1/audit/verify'),
          issue: await ask('POST', 'api/v1/tokens', JSON.stringify({ name: 'x', role: 'admin' })),
          import: await ask('POST', 'api/v1/devices/import', JSON.stringify({ devices: [] })),
          me: await ask('GET', 'api/v1/me'),
        }
      })
      expect(statuses).toEqual({
        token: true,
        tokens: 403,
        audit: 403,
        chain: 403,
        issue: 403,
        import: 403,
        me: 200,
      })
      // The refusals are the page's own doing here, not the dashboard's: only they are in the console.
      expect(b.errors.filter((e) => !/status of 403/.test(e))).toEqual([])
    } finally {
      await b.close()
    }
  })

  it('issues an investigator token from the page, shown once with a Copy button', async () => {
    tb = await launchBrowser()
    await tb.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.gateway.httpUrl })
    tb.page.on('dialog', (d) => void d.accept())
    await signIn(tb.page, gw.adminToken, gw.gateway.httpUrl)
    await tb.page.getByTestId('nav-admin-people').click()
    const page = tb.page.getByTestId('admin-people')
    await page.waitFor({ timeout: UI_TIMEOUT })
    expect(await page.locator('h1').textContent()).toBe('People and tokens')
    await tb.page.getByTestId('token-table').waitFor({ timeout: UI_TIMEOUT })

    await tb.page.getByTestId('issue-name').fill('Det. Sgt. Lin')
    await tb.page.getByTestId('issue-role').selectOption('investigator')
    await tb.page.getByTestId('issue-submit').click()
    const once = tb.page.getByTestId('issued-token')
    await once.waitFor({ timeout: UI_TIMEOUT })
    const field = tb.page.getByTestId('issued-token-value')
    expect(await field.getAttribute('readonly')).not.toBeNull()
    const token = await field.inputValue()
    expect(token.length).toBeGreaterThan(20)
    expect(await once.textContent()).toContain('will not be shown again')
    await tb.page.getByTestId('issued-token-copy').click()
    await expect
      .poll(() => tb?.page.getByTestId('issued-token-copied').textContent(), { timeout: UI_TIMEOUT })
      .toBe('Copied')
    // Compared, never printed: a token must not reach the test output.
    const copied = await tb.page.evaluate(() => navigator.clipboard.readText())
    expect(copied === token).toBe(true)

    const listed = await api<{ tokens: TokenView[] }>(
      gw.gateway.httpUrl,
      'GET',
      '/api/v1/tokens',
      gw.adminToken,
    )
    const lin = listed.body.tokens.find((x) => x.name === 'Det. Sgt. Lin')
    expect(lin).toMatchObject({ role: 'investigator', revokedAt: null })
    const row = tb.page.getByTestId(`token-${lin?.id}`)
    await row.waitFor({ timeout: UI_TIMEOUT })
    expect(await row.textContent()).toContain('Investigator')
    expect(await row.textContent()).not.toContain(token)
    // The token works until it is revoked.
    const before = await api(gw.gateway.httpUrl, 'GET', '/api/v1/me', token)
    expect(before.status).toBe(200)
    await tb.screenshot('admin-people')

    // Done hides it for good: the page keeps it nowhere else.
    await once.getByRole('button', { name: 'Done' }).click()
    expect(await tb.page.getByTestId('issued-token').count()).toBe(0)
    expect(await tb.page.content()).not.toContain(token)

    await row.getByTestId('token-revoke').click()
    await expect.poll(() => row.getAttribute('data-revoked'), { timeout: UI_TIMEOUT }).toBe('true')
    const after = await api(gw.gateway.httpUrl, 'GET', '/api/v1/me', token)
    expect(after.status).toBe(401)
    const tokens = await api(gw.gateway.httpUrl, 'GET', '/api/v1/tokens', token)
    expect(tokens.status).toBe(401)
  })

  it('names the bad row of a CSV and imports none of its rows', async () => {
    const page = (tb as TestBrowser).page
    await page.getByTestId('nav-admin-units').click()
    await page.getByTestId('admin-units').waitFor({ timeout: UI_TIMEOUT })
    const csv = [
      HEADER,
      `cam-bad-a,SN-A-${run},7,1 Elm St,a@example.org,29.3,117.2,DS-C3W,2.4.1`,
      `cam-bad-b,SN-B-${run},99,2 Elm St,b@example.org,29.3,117.2,DS-C3W,2.4.1`,
      `cam-bad-c,SN-C-${run},7,3 Elm St,c@example.org,29.3,117.2,DS-C3W,2.4.1`,
    ].join('\n')
    await page.getByTestId('import-csv').fill(csv)
    await page.getByTestId('import-submit').click()
    const invalid = page.getByTestId('import-invalid')
    await invalid.waitFor({ timeout: UI_TIMEOUT })
    expect(await invalid.textContent()).toContain('Nothing was imported')
    const bad = page.getByTestId('import-row-2')
    expect(await bad.textContent()).toContain('district')
    expect(await bad.textContent()).toContain('2 Elm St')
    expect(await page.getByTestId('import-row-1').count()).toBe(0)
    expect(await page.getByTestId('import-row-3').count()).toBe(0)
    await (tb as TestBrowser).screenshot('admin-units-import-error')
    // The browser logs the refused import itself: that one answer, and nothing else, is expected.
    const errors = (tb as TestBrowser).errors
    expect(errors).toEqual([expect.stringContaining('status of 422')])
    errors.length = 0
    const ids = (await allDevices()).map((d) => d.id)
    expect(ids.filter((id) => id.startsWith('cam-bad-'))).toEqual([])
  })

  it('imports a good CSV: every row becomes a unit', async () => {
    const page = (tb as TestBrowser).page
    const csv = [
      HEADER,
      `cam-ok-a,SN-OKA-${run},7,1 Oak St,a@example.org,29.3,117.2,DS-C3W,2.4.1`,
      `cam-ok-b,SN-OKB-${run},8,2 Oak St,b@example.org,29.31,117.21,DS-C3W,2.4.1`,
    ].join('\n')
    await page.getByTestId('import-csv').fill(csv)
    await page.getByTestId('import-submit').click()
    const ok = page.getByTestId('import-ok')
    await ok.waitFor({ timeout: UI_TIMEOUT })
    expect(await ok.getAttribute('data-count')).toBe('2')
    expect(await ok.textContent()).toBe('2 units imported')
    expect(await page.getByTestId('import-invalid').count()).toBe(0)
    const ids = (await allDevices()).map((d) => d.id)
    expect(ids).toEqual(expect.arrayContaining(['cam-ok-a', 'cam-ok-b']))
    expect((await device('cam-ok-b')).body.address).toBe('2 Oak St')
  })

  it('disables a unit, then enables it again', async () => {
    const page = (tb as TestBrowser).page
    // Found by its street, as on the installers' sheet: both Oak St units match, one is picked.
    await page.getByTestId('manage-id').fill('oak st')
    const finder = page.getByTestId('unit-finder')
    await expect.poll(() => finder.getAttribute('data-total'), { timeout: UI_TIMEOUT }).toBe('2')
    await page.getByTestId('unit-match-cam-ok-a').click()
    expect(await page.getByTestId('manage-id').inputValue()).toBe('cam-ok-a')
    await page.getByTestId('manage-disable').click()
    const state = page.getByTestId('manage-state')
    await expect.poll(() => state.getAttribute('data-enabled'), { timeout: UI_TIMEOUT }).toBe('false')
    expect((await device('cam-ok-a')).body.enabled).toBe(false)
    await page.getByTestId('manage-enable').click()
    await expect.poll(() => state.getAttribute('data-enabled'), { timeout: UI_TIMEOUT }).toBe('true')
    expect((await device('cam-ok-a')).body.enabled).toBe(true)
  })

  it('gives a unit a new secret, shown once', async () => {
    const page = (tb as TestBrowser).page
    await page.getByTestId('manage-rotate').click()
    const once = page.getByTestId('rotated-secret')
    await once.waitFor({ timeout: UI_TIMEOUT })
    expect((await page.getByTestId('rotated-secret-value').inputValue()).length).toBeGreaterThanOrEqual(32)
    expect(await once.textContent()).toContain('cam-ok-a')
  })

  it('shows the audit log, filters it, and checks the chain', async () => {
    const page = (tb as TestBrowser).page
    await page.getByTestId('nav-admin-audit').click()
    await page.getByTestId('admin-audit').waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('audit-table').waitFor({ timeout: UI_TIMEOUT })
    const actions = () =>
      page
        .getByTestId('audit-table')
        .locator('tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')))
    expect(await actions()).toEqual(expect.arrayContaining(['token.issue', 'token.revoke', 'device.disable']))
    await page.getByTestId('audit-action').fill('device.disable')
    await page.getByTestId('audit-filter').click()
    await expect.poll(actions, { timeout: UI_TIMEOUT }).toEqual(['device.disable'])
    expect(await page.getByTestId('audit-table').textContent()).toContain('device:cam-ok-a')

    await page.getByTestId('chain-check').click()
    const verdict = page.getByTestId('chain-verdict')
    await verdict.waitFor({ timeout: UI_TIMEOUT })
    expect(await verdict.getAttribute('data-ok')).toBe('true')
    expect(await verdict.textContent()).toContain('The chain is intact')
    await (tb as TestBrowser).screenshot('admin-audit')
    expect((tb as TestBrowser).errors).toEqual([])
  })

  it("filters the audit log by actor: another actor's rows go, and paging keeps the filter", async () => {
    const page = (tb as TestBrowser).page
    // A second admin issues a page and one more of tokens from the API: the log gets another actor.
    const zhou = (await gw.gateway.tokens.issue('Insp. Zhou', 'admin')).token
    for (let i = 0; i <= AUDIT_PAGE; i++) {
      const res = await api(gw.gateway.httpUrl, 'POST', '/api/v1/tokens', zhou, {
        name: `Officer ${i}`,
        role: 'ops',
      })
      expect(res.status).toBe(201)
    }
    const log = (
      await api<{ entries: AuditEntry[] }>(
        gw.gateway.httpUrl,
        'GET',
        '/api/v1/audit?limit=1000',
        gw.adminToken,
      )
    ).body.entries
    const byZhou = log.filter((e) => /^Insp\. Zhou \(admin #\d+\)$/.test(e.actor))
    expect(byZhou).toHaveLength(AUDIT_PAGE + 1)
    const actor = (byZhou[0] as AuditEntry).actor
    const disable = log.find((e) => e.action === 'device.disable')
    expect(disable?.actor).toBeDefined()
    expect(disable?.actor).not.toBe(actor)
    const row = (e: AuditEntry | undefined) => page.getByTestId(`audit-${e?.seq}`)
    const actorsShown = () =>
      page
        .getByTestId('audit-table')
        .locator('tbody td[data-col=actor]')
        .evaluateAll((cells) => cells.map((c) => c.textContent))

    // Unfiltered, the bootstrap admin's disabling of a unit is on the first page.
    await page.getByTestId('audit-clear').click()
    await row(disable).waitFor({ timeout: UI_TIMEOUT })
    await page.getByTestId('audit-actor').fill(actor)
    await page.getByTestId('audit-filter').click()
    await expect.poll(() => row(disable).count(), { timeout: UI_TIMEOUT }).toBe(0)
    await row(byZhou[0]).waitFor({ timeout: UI_TIMEOUT })
    expect(await actorsShown()).toEqual(Array(AUDIT_PAGE).fill(actor))
    await (tb as TestBrowser).screenshot('admin-audit-actor')

    // The next page asks with the same filter: Zhou's last entry, alone.
    await page.getByTestId('audit-next').click()
    await row(byZhou.at(-1)).waitFor({ timeout: UI_TIMEOUT })
    expect(await actorsShown()).toEqual([actor])
    expect(await page.getByTestId('audit-next').count()).toBe(0)
    await page.getByTestId('audit-first').click()
    await row(byZhou[0]).waitFor({ timeout: UI_TIMEOUT })
    expect(await row(disable).count()).toBe(0)

    // A range whose end is before its start is said on the form and not sent; the rows stay.
    await page.getByTestId('audit-from').fill('2026-12-05T10:00')
    await page.getByTestId('audit-to').fill('2026-12-05T09:00')
    await page.getByTestId('audit-filter').click()
    const rangeError = page.getByTestId('audit-range-error')
    await rangeError.waitFor({ timeout: UI_TIMEOUT })
    expect(await rangeError.textContent()).toBe('“To” must not be before “From”.')
    expect(await page.getByTestId('audit-to').getAttribute('aria-invalid')).toBe('true')
    expect(await row(byZhou[0]).count()).toBe(1)
    // A window in the future holds nothing yet.
    await page.getByTestId('audit-from').fill('2099-01-01T00:00')
    await page.getByTestId('audit-to').fill('')
    await page.getByTestId('audit-filter').click()
    await page.getByTestId('audit-none').waitFor({ timeout: UI_TIMEOUT })
    expect(await rangeError.count()).toBe(0)

    await page.getByTestId('audit-clear').click()
    await row(disable).waitFor({ timeout: UI_TIMEOUT })
    expect(await page.getByTestId('audit-actor').inputValue()).toBe('')
    expect((tb as TestBrowser).errors).toEqual([])
  })

  it('says the people page in Chinese', async () => {
    await tb?.close()
    tb = await launchBrowser({ locale: 'zh-CN' })
    await signIn(tb.page, gw.adminToken, gw.gateway.httpUrl)
    await tb.page.getByTestId('nav-admin-people').waitFor({ timeout: UI_TIMEOUT })
    expect(await tb.page.getByTestId('nav-admin-people').textContent()).toBe('人员')
    await open(tb, '#/admin/people', 'token-table')
    expect(await tb.page.getByTestId('admin-people').locator('h1').textContent()).toBe('人员与令牌')
    expect(await tb.page.getByTestId('issue-submit').textContent()).toBe('签发')
    expect(await tb.page.getByTestId('token-table').textContent()).toContain('吊销')
    await tb.screenshot('admin-people-zh')
    await open(tb, '#/admin/units', 'admin-units')
    expect(await tb.page.getByTestId('admin-units').locator('h1').textContent()).toBe('设备开通')
    await tb.screenshot('admin-units-zh')
    await open(tb, '#/admin/audit', 'audit-filters')
    expect(await tb.page.getByTestId('admin-audit').locator('h1').textContent()).toBe('审计日志')
    expect(await tb.page.getByTestId('audit-clear').textContent()).toBe('清除筛选')
    expect(await tb.page.getByTestId('audit-filters').textContent()).toContain('起始时间')
    await tb.screenshot('admin-audit-zh')
    expect(tb.errors).toEqual([])
  })
})
