import fs from 'node:fs'
import path from 'node:path'
import type { CaseDetail } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_DIST } from '../../gateway/src/http/server.js'
import { TestUnit } from '../cases/helpers.js'
import { type ClipFile, makeClip } from '../clips/helpers.js'
import { launchBrowser, signIn, type TestBrowser } from '../helpers/browser.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * A unit whose owner chose "never": its pull is refused, an investigator's page offers nothing to do
 * about it, and an admin records the court's order on the case page, after which the real unit
 * uploads and the pull finishes. Then the admin closes the case: no more pulls can be asked for.
 */

const UI_TIMEOUT = 15_000
const ORDER = '(2026) Court Order 117'

describe('an admin records a legal order and closes the case', { timeout: 90_000 }, () => {
  let gw: TestGateway
  let unit: TestUnit
  let clip: ClipFile
  let caseId = ''
  let investigator = ''
  let admin: TestBrowser | null = null
  let inv: TestBrowser | null = null
  const data = tempDir('doorstep-case-admin-')
  const ID = 'river-rd-9'

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) {
      throw new Error('dashboard/dist is missing: run `npm run build -w dashboard` first')
    }
    clip = makeClip(data.dir, 'recording', { seconds: 3 })
    gw = await startTestGateway()
    investigator = (await gw.gateway.tokens.issue('Det. Insp. Chen', 'investigator')).token
    const c = await gw.gateway.registry.create(
      deviceRow({ id: ID, address: '9 River Rd', releasePolicy: 'never' }),
    )
    unit = new TestUnit({
      baseUrl: gw.gateway.httpUrl,
      mqttUrl: gw.gateway.mqttUrl,
      id: c.id,
      secret: c.secret,
      clip,
    })
    await unit.connect()
    const now = Date.now()
    const opened = await api<CaseDetail>(gw.gateway.httpUrl, 'POST', '/api/v1/cases', investigator, {
      number: 'PD-2026-1206',
      reason: 'Bicycle stolen from the yard of 9 River Rd',
      from: now - 3_600_000,
      to: now,
      area: { kind: 'devices', ids: [ID] },
    })
    expect(opened.status).toBe(201)
    caseId = opened.body.case.id
    const pulls = await api(gw.gateway.httpUrl, 'POST', `/api/v1/cases/${caseId}/pulls`, investigator)
    expect(pulls.status).toBeLessThan(300)
  })

  afterAll(async () => {
    await unit?.disconnect().catch(() => undefined)
    await admin?.close()
    await inv?.close()
    await gw?.stop()
    data.cleanup()
  })

  const pullState = (b: TestBrowser) =>
    b.page.getByTestId(`case-unit-${ID}`).getByTestId('pull-state').getAttribute('data-state')

  it('shows an investigator the refusal, and no way round it', async () => {
    inv = await launchBrowser()
    await signIn(inv.page, investigator, gw.gateway.httpUrl)
    await inv.page.getByTestId('nav-cases').waitFor({ timeout: UI_TIMEOUT })
    await inv.page.goto(`${gw.gateway.httpUrl}/#/case/${caseId}`)
    await expect.poll(() => pullState(inv as TestBrowser), { timeout: UI_TIMEOUT }).toBe('refused')
    expect(await inv.page.getByTestId('legal-open').count()).toBe(0)
    expect(await inv.page.getByTestId(`case-unit-${ID}`).textContent()).toContain('refused (release policy)')
  })

  it('records the legal order: the unit uploads and the pull finishes', async () => {
    admin = await launchBrowser()
    const page = admin.page
    await signIn(page, gw.adminToken, gw.gateway.httpUrl)
    await page.getByTestId('nav-cases').waitFor({ timeout: UI_TIMEOUT })
    await page.goto(`${gw.gateway.httpUrl}/#/case/${caseId}`)
    await expect.poll(() => pullState(admin as TestBrowser), { timeout: UI_TIMEOUT }).toBe('refused')
    await page.getByTestId('legal-open').click()
    // An empty number is refused by the form itself (required), nothing is sent.
    await page.getByRole('button', { name: 'Record', exact: true }).click()
    expect(
      await page.getByLabel('Order number').evaluate((el) => (el as HTMLInputElement).validity.valueMissing),
    ).toBe(true)
    await page.getByLabel('Order number').fill(ORDER)
    await page.getByLabel('Note').fill('Served on the owner 5 December')
    await admin.screenshot('case-legal-order')
    await page.getByRole('button', { name: 'Record', exact: true }).click()
    await expect.poll(() => pullState(admin as TestBrowser), { timeout: 30_000 }).toBe('done')
    expect(await page.getByTestId(`case-unit-${ID}`).textContent()).toContain('granted (legal order)')
    expect(await page.getByTestId('legal-open').count()).toBe(0)
    // The order is on the record: in the case's custody log and the audit log.
    const audit = await api<{ entries: Array<{ action: string; detail: unknown }> }>(
      gw.gateway.httpUrl,
      'GET',
      '/api/v1/audit?limit=1000',
      gw.adminToken,
    )
    expect(JSON.stringify(audit.body.entries)).toContain(ORDER)
    // The investigator's page follows over the socket.
    await expect.poll(() => pullState(inv as TestBrowser), { timeout: UI_TIMEOUT }).toBe('done')
  })

  it('closes the case after a confirmation; nothing more can be asked of it', async () => {
    const page = (admin as TestBrowser).page
    let asked = ''
    page.once('dialog', (d) => {
      asked = d.message()
      void d.accept()
    })
    await page.getByTestId('case-close').click()
    await page.locator('[data-testid=case-page][data-state=closed]').waitFor({ timeout: UI_TIMEOUT })
    expect(asked).toContain('PD-2026-1206')
    expect(await page.getByTestId('case-state').textContent()).toBe('Closed')
    expect(await page.getByTestId('case-pulls').count()).toBe(0)
    expect(await page.getByTestId('case-close').count()).toBe(0)
    const detail = await api<CaseDetail>(gw.gateway.httpUrl, 'GET', `/api/v1/cases/${caseId}`, investigator)
    expect(detail.body.case.state).toBe('closed')
    // The export still downloads from a closed case.
    expect(await page.getByTestId('case-export').isEnabled()).toBe(true)
    expect((admin as TestBrowser).errors).toEqual([])
  })
})
