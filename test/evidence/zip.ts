import fs from 'node:fs'
import yauzl from 'yauzl'
import yazl from 'yazl'

/** Every entry of a ZIP, by name, in order. */
export async function readZipEntries(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  const zin = await yauzl.openPromise(file, { lazyEntries: true })
  for await (const entry of zin.eachEntry()) {
    const chunks: Buffer[] = []
    for await (const c of await zin.openReadStreamPromise(entry)) chunks.push(c as Buffer)
    out.set(entry.fileName, Buffer.concat(chunks))
  }
  zin.close()
  return out
}

/** A new ZIP from entries, as a forger (or a re-packing tool) would write it. */
export async function writeZipEntries(
  entries: Map<string, Buffer>,
  dest: string,
  opts: { compress?: boolean } = {},
): Promise<void> {
  const zout = new yazl.ZipFile()
  for (const [name, data] of entries) zout.addBuffer(data, name, { compress: opts.compress ?? false })
  zout.end()
  await new Promise<void>((resolve, reject) => {
    const ws = fs.createWriteStream(dest)
    ;(zout.outputStream as NodeJS.ReadableStream).pipe(ws).on('finish', resolve).on('error', reject)
  })
}
