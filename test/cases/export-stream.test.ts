import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { CaseView, CustodyEntry } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Hex } from '../../gateway/src/audit/chain.js'
import type { Cases } from '../../gateway/src/cases/cases.js'
import { type ExportPlan, streamExport } from '../../gateway/src/cases/export.js'
import { EvidenceKeyring } from '../../gateway/src/evidence/index.js'
import { tempDir } from '../helpers/tmp.js'

const CASE: CaseView = {
  id: '6f1c3c1e-7d4e-4a51-9a4e-3f1f1f1f1f1f',
  number: 'T-1',
  reason: 'stream',
  from: 0,
  to: 1,
  area: { kind: 'district', district: 1 },
  state: 'open',
  createdBy: 'test',
  createdAt: 0,
  closedAt: null,
  closedBy: null,
}

/** Just enough of the cases feature for `streamExport`: a custody log in memory. */
function fakeCases(): { cases: Cases; appended: string[] } {
  const appended: string[] = []
  const entries: CustodyEntry[] = []
  const custody = {
    append: (caseId: string, actor: string, action: string, details: Record<string, unknown>) => {
      appended.push(action)
      const e = {
        caseId,
        seq: entries.length + 1,
        at: 0,
        actor,
        action,
        details,
        prevHash: '0'.repeat(64),
        hash: 'a'.repeat(64),
      }
      entries.push(e)
      return e
    },
    entries: () => entries,
  }
  return { cases: { custody } as unknown as Cases, appended }
}

const log = { error: () => {} }

describe('the export stream (no gateway)', () => {
  let tmp: { dir: string; cleanup: () => void }
  let big: string
  let bigSha: string
  let signer: EvidenceKeyring

  beforeAll(() => {
    tmp = tempDir('doorstep-export-')
    signer = new EvidenceKeyring({ dataDir: tmp.dir })
    signer.load()
    big = path.join(tmp.dir, 'big.bin')
    const buf = randomBytes(32 * 1024 * 1024)
    fs.writeFileSync(big, buf)
    bigSha = sha256Hex(buf)
  })
  afterAll(() => tmp?.cleanup())

  const plan = (expected: string): ExportPlan => ({
    case: CASE,
    withheld: [],
    items: [
      {
        path: 'clips/x/pull-1.mp4',
        file: big,
        expected,
        meta: {
          kind: 'clip',
          of: null,
          deviceId: 'cam-x',
          district: 1,
          window: { from: 0, to: 1 },
          receivedAt: 0,
          obtained: { how: 'pull', eventId: null, pullId: CASE.id },
          consent: {
            id: 1,
            basis: 'policy-always',
            granted: true,
            decidedBy: 'p',
            decidedAt: 0,
            legalOrder: null,
            note: null,
          },
          media: null,
        },
      },
    ],
  })

  it('a client that leaves mid-way ends the export: no hang, no export entry, the file closed', async () => {
    const { cases, appended } = fakeCases()
    const { stream, done } = streamExport(cases, plan(bigSha), 'test', signer, log)
    let got = 0
    await new Promise<void>((resolve) => {
      stream.on('data', (c: Buffer) => {
        got += c.length
        if (got > 1024 * 1024) {
          stream.destroy()
          resolve()
        }
      })
    })
    await expect(done).rejects.toThrow(/client went away/)
    expect(appended).toEqual([])
    // No descriptor of this process still points at the file (Linux: /proc/self/fd).
    const open = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === big
        } catch {
          return false
        }
      })
    await expect.poll(open, { timeout: 2000 }).toEqual([])
  })

  it('a stored file that does not match its content address stops the export', async () => {
    const { cases, appended } = fakeCases()
    const { stream, done } = streamExport(cases, plan('0'.repeat(64)), 'test', signer, log)
    // The response gets the error (Fastify listens for it and cuts the connection).
    const streamError = new Promise((resolve) => stream.on('error', resolve))
    stream.resume()
    expect(((await streamError) as Error).message).toMatch(/does not match/)
    await expect(done).rejects.toThrow(/does not match its content address/)
    expect(appended).toEqual([])
    expect(stream.destroyed).toBe(true)
  })

  it('a complete export ends with its custody entry and reports the ZIP digest', async () => {
    const { cases, appended } = fakeCases()
    const { stream, done } = streamExport(cases, plan(bigSha), 'test', signer, log)
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    const r = await done
    const zip = Buffer.concat(chunks)
    expect(r).toMatchObject({ files: 1, bytes: zip.length, zipSha256: sha256Hex(zip) })
    expect(appended).toEqual(['case.exported'])
  })
})
