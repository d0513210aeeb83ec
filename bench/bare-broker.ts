/**
 * Bare aedes over TCP, nothing else: the memory baseline for bench:fleet
 * (what a connected unit costs a broker before Doorstep adds anything).
 */
import net from 'node:net'
import { Aedes } from 'aedes'

const broker = await Aedes.createBroker()
const server = net.createServer({ noDelay: true }, broker.handle)
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
})
