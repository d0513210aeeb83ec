/**
 * The baseline for bench:ingest: bare aedes → JSON.parse → batches of 1,000
 * hand-built lines → InfluxDB. No auth, validation, durability or
 * backpressure: what the parts cost before Doorstep adds anything.
 * Run as its own process so its CPU time can be read apart.
 */
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.env.PORT)
const influx = process.env.INFLUX_URL as string
const db = process.env.DB as string
const writeUrl = `${influx}/write?db=${db}`

let batch: string[] = []
let sub = 0
let timer: NodeJS.Timeout | null = null

function flush(): void {
  if (timer) {
    clearTimeout(timer)
    timer = null
  }
  if (batch.length === 0) return
  const body = batch.join('\n')
  batch = []
  fetch(writeUrl, { method: 'POST', body }).catch((err: Error) =>
    process.stderr.write(`write failed: ${err.message}\n`),
  )
}

const broker = await Aedes.createBroker()
broker.on('publish', (packet, client) => {
  if (!client) return
  const topic = packet.topic
  const p = JSON.parse(String(packet.payload)) as Record<string, number | boolean | string>
  const id = topic.slice(4, topic.indexOf('/', 4))
  sub = sub >= 999_999 ? 0 : sub + 1
  const ts = `${Date.now()}${String(sub).padStart(6, '0')}`
  if (topic.endsWith('/heartbeat')) {
    batch.push(
      `heartbeat,device=${id} uptime_s=${p.uptimeS}i,storage_free_mb=${p.storageFreeMb},storage_total_mb=${p.storageTotalMb},recording=${p.recording},signal_dbm=${p.signalDbm},temperature_c=${p.temperatureC} ${ts}`,
    )
  } else if (topic.endsWith('/event')) {
    batch.push(`event,device=${id},kind=${p.kind} event_id="${p.eventId}",score=${p.score} ${ts}`)
  } else return
  if (batch.length >= 1000) flush()
  else if (!timer) timer = setTimeout(flush, 250)
})
const server = net.createServer({ noDelay: true }, broker.handle)
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => {
  flush()
  server.close()
  broker.close(() => process.exit(0))
})
