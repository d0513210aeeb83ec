import net from 'node:net'
import { DeviceId, TOPICS } from '@doorstep/proto'
import {
  Aedes,
  type AedesOptions,
  type AedesPublishPacket,
  type AuthenticateError,
  type Client,
  type PublishPacket,
} from 'aedes'
import type { AedesPersistence } from 'aedes-persistence'
import memoryPersistenceModule from 'aedes-persistence'
import type { Config } from '../config.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import type { Ingest } from '../ingest/index.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { DeviceRegistry } from '../registry/index.js'
import type { TlsCredentials } from '../tls/index.js'
import { AddressGates, AdmissionGate, AuthBackoff } from './admission.js'
import { ClusterAdmission } from './cluster-admission.js'
import { type DisconnectReason, type ReasonedError, reasonOfError } from './disconnects.js'
import { withExactRetained } from './exact-retained.js'
import {
  CONNECT_MAX_BYTES,
  type FrameLimits,
  type FrameRefusal,
  guardFrames,
  openFrames,
} from './frame-guard.js'
import { proxyList, readProxyHeader } from './proxy-protocol.js'
import { openRedisShare, type RedisShare } from './redis-share.js'
import { TakeoverNotices } from './takeover-notices.js'
import { maySubscribe, mayWill, publishKind } from './topic-acl.js'
import { skipUnheardRouting } from './unheard-topics.js'
import { UnitBrokers } from './unit-brokers.js'

// A CommonJS module whose typings declare an ES default export: imported from ESM, the default is the
// factory itself (as aedes imports it), which the typings do not say.
const memoryPersistence = memoryPersistenceModule as unknown as () => AedesPersistence

/**
 * Connections the kernel may hold for us before we accept them (Linux caps it at net.core.somaxconn).
 * Node's default, 511, overflows when thousands of units connect at once to a busy gateway; Linux then
 * drops the handshake's last ACK while the unit, which sees the connection as open, sends CONNECT, gives
 * up on it after its connect timeout and connects again. The old connection enters the queue later,
 * behind the new one, CONNECT and all, and on accept takes over the unit's live session [MQTT-3.1.4-2].
 */
const LISTEN_BACKLOG = 4096

/** CONNACK return codes of MQTT 3.1.1, section 3.2.2.3. */
const CONNACK = {
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_CREDENTIALS: 4,
  NOT_AUTHORIZED: 5,
} as const

/**
 * Lets a stale will through harmlessly. Refusing it is not an option for the wills of dead nodes: aedes
 * publishes them in a background loop that turns a refusal into an 'error' and keeps the will for the
 * next round. Not retained, it leaves the unit's status alone, and no one can subscribe to a unit's
 * status topic (topic-acl.ts); aedes then deletes the will.
 */
function defuseWill(packet: PublishPacket, done: (err?: Error | null) => void): void {
  packet.retain = false
  done(null)
}

function refusal(code: number, message: string, reason: DisconnectReason): AuthenticateError {
  return Object.assign(new Error(message), {
    returnCode: code,
    disconnectReason: reason,
  }) as AuthenticateError
}

/** An ACL violation: aedes closes the connection without a PUBACK [MQTT-3.3.5-2]. */
function kick(message: string): ReasonedError {
  return Object.assign(new Error(message), { disconnectReason: 'kicked-acl' as const })
}

/** A trusted proxy sends its header as soon as it has connected; this is ample. */
const PROXY_HEADER_TIMEOUT_MS = 5_000
const EMPTY = Buffer.alloc(0)

/** A connection's peer as `address:port`: the same for a TLS socket as for the TCP socket under it. */
function peerKey(socket: { remoteAddress?: string; remotePort?: number }): string {
  return `${socket.remoteAddress}:${socket.remotePort}`
}

/** aedes' per-client fields our code reads; its types omit them (lib/client.js, aedes.js). */
interface AedesInternals {
  /** Set when the client sent DISCONNECT [MQTT-3.14.4-3]. */
  _disconnected?: boolean
  /** Set once the connection is closed, whatever closed it (lib/client.js `close`). */
  closed?: boolean
}

/** A will as aedes hands it over: the store adds the id of the broker the unit gave it to. */
type WillFields = { brokerId?: string; clientId?: string }

/**
 * Decides whether `payload` on `topic` may reach the unit `deviceId` now; `session` is the connection
 * it would go out on (a new object for each connection, good as a WeakMap key).
 */
export type ForwardFilter = (session: object, deviceId: string, topic: string, payload: Buffer) => boolean

export interface BrokerDeps {
  config: Config
  registry: DeviceRegistry
  ingest: Ingest
  bus: EventBus
  log: Logger
  metrics: Metrics
  /** Set when TLS is configured: the MQTT-over-TLS port is served with it. */
  tls?: Pick<TlsCredentials, 'mqttServer' | 'unitCertificateMatches'>
  /**
   * With gateways sharing presence: when the unit's live session on another gateway began (ms), or
   * null when it has none there. The takeover hold then holds across the cluster.
   */
  sessionElsewhere?: (deviceId: string) => number | null
}

/**
 * The embedded MQTT broker: aedes over TCP, with units authenticated against
 * the registry and confined to their own topics. Ingest runs in
 * `authorizePublish`, the one hook aedes calls before it acknowledges.
 * With DOORSTEP_REDIS_URL, routing, retained messages and sessions are shared
 * with the other gateways through Redis (`redis-share.ts`).
 */
export class MqttBroker implements Feature {
  readonly name = 'mqtt'
  readonly #d: BrokerDeps
  readonly #log: Logger
  #aedes: Aedes | null = null
  /** Set with DOORSTEP_REDIS_URL: what this broker shares with the other gateways. */
  #share: RedisShare | null = null
  /** Shares with other gateways; kept through stop, while closing clients still publish their wills. */
  #clustered = false
  #takeovers: TakeoverNotices | null = null
  #unitBrokers: UnitBrokers | null = null
  /** Connections closed because their unit got a session on another gateway: their will is dropped. */
  readonly #movedAway = new WeakSet<Client>()
  #server: net.Server | null = null
  #tlsServer: net.Server | null = null
  /** Each client's own socket, for its TLS certificate (the stream aedes reads may wrap it). */
  readonly #sockets = new WeakMap<Client, net.Socket>()
  #gate: AdmissionGate
  /** With DOORSTEP_CLUSTER_CONNECT_RATE: the budget every gateway of the cluster spends from. */
  #clusterGate: ClusterAdmission | null = null
  readonly #addressGates: AddressGates
  readonly #backoff = new AuthBackoff()
  /** When each live session got its CONNACK 0: a young one is not taken over (see #authenticate). */
  readonly #readyAt = new WeakMap<Client, number>()
  /** Will topics seen in CONNECT, checked once the client is authenticated. */
  readonly #willTopics = new WeakMap<Client, string | null>()
  /** The live client per unit: a takeover must not mark the new session offline. */
  readonly #current = new Map<string, Client>()
  /** The first error aedes reported on a connection: why it is about to close. */
  readonly #endedBy = new WeakMap<Client, DisconnectReason>()
  /** Connections that got CONNACK 0: their end is a lost session, not a failed attempt. */
  readonly #sessions = new WeakSet<Client>()
  readonly #frameLimits: FrameLimits
  /**
   * Payloads ingest dropped as invalid (or over a rate): acknowledged, but delivered to no subscriber.
   * aedes wraps a publish in a new packet before routing it and keeps the payload Buffer, so the
   * Buffer is what `authorizeForward` can recognise.
   */
  readonly #dropped = new WeakSet<Buffer>()
  #stopping = false
  #offRevoked: (() => void) | null = null
  /** Load balancers that must open with a PROXY header (DOORSTEP_TRUSTED_PROXIES); null: none. */
  readonly #proxies: net.BlockList | null
  /** The unit's own address for connections that came through a proxy, by the proxy side's `peerKey`. */
  readonly #proxiedSources = new Map<string, string>()
  readonly #forwardFilters = new Set<ForwardFilter>()

  constructor(deps: BrokerDeps) {
    this.#d = deps
    this.#log = deps.log.child({ feature: 'mqtt' })
    this.#gate = new AdmissionGate(deps.config.admission.connectRate)
    this.#addressGates = new AddressGates(deps.config.admission.connectRatePerAddress)
    this.#frameLimits = { connectBytes: CONNECT_MAX_BYTES, packetBytes: deps.config.mqtt.maxPacketBytes }
    this.#proxies = proxyList(deps.config.cluster.trustedProxies)
  }

  /** The plain MQTT port; 0 when it is off. */
  get port(): number {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  /** The MQTT-over-TLS port; 0 when TLS is off. */
  get tlsPort(): number {
    const a = this.#tlsServer?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  get aedes(): Aedes | null {
    return this.#aedes
  }

  /** Whether every connection to the shared Redis is up; null without DOORSTEP_REDIS_URL. */
  get redisUp(): boolean | null {
    return this.#share ? this.#share.up() : null
  }

  isConnected(deviceId: string): boolean {
    return this.#current.has(deviceId)
  }

  async start(): Promise<void> {
    const { config, metrics, bus } = this.#d
    const opts: AedesOptions = {
      preConnect: (client, packet, done) => {
        this.#willTopics.set(client, packet.will?.topic ?? null)
        done(null, true)
      },
      authenticate: (client, username, password, done) => {
        this.#authenticate(client, username, password).then(
          () => done(null, true),
          (err: AuthenticateError) => {
            metrics.connectsRefused.inc({ reason: String(err.returnCode ?? CONNACK.NOT_AUTHORIZED) })
            done(err, false)
          },
        )
      },
      authorizePublish: (client, packet, done) => this.#authorizePublish(client, packet, done),
      authorizeForward: (client, packet) => this.#authorizeForward(client, packet),
      authorizeSubscribe: (client, sub, done) => {
        if (maySubscribe(client.id, sub.topic)) return done(null, sub)
        this.#log.warn({ device: client.id, topic: sub.topic }, 'subscription refused')
        done(null, null)
      },
      // Units are home devices on flaky links: answer quickly or let them go.
      connectTimeout: 15_000,
      keepaliveLimit: 600,
      drainTimeout: 10_000,
    }
    const share = config.cluster.redisUrl
      ? await openRedisShare({ url: config.cluster.redisUrl, nodeId: config.cluster.nodeId, log: this.#log })
      : null
    if (share) {
      opts.id = share.brokerId
      opts.mq = share.mq
      opts.persistence = share.persistence
    } else {
      opts.persistence = withExactRetained(memoryPersistence()) as AedesOptions['persistence']
    }
    let aedes: Aedes
    try {
      aedes = await Aedes.createBroker(opts)
    } catch (err) {
      await share?.close()
      throw err
    }
    // What units report is ingested in authorizePublish and has no subscriber: not routed at all.
    skipUnheardRouting(aedes)
    this.#share = share
    this.#clustered = share !== null
    if (share) {
      this.#takeovers = new TakeoverNotices({
        mq: share.mq,
        brokerId: aedes.id,
        onTakenOver: (id) => this.#closeMovedAway(id),
        log: this.#log,
        up: () => share.up(),
      })
      await this.#takeovers.start()
      this.#unitBrokers = new UnitBrokers(share.redis, aedes.id, this.#log)
      const clusterRate = config.admission.clusterConnectRate
      if (clusterRate !== null) {
        this.#clusterGate = new ClusterAdmission({
          redis: share.redis,
          ratePerSecond: clusterRate,
          perAddressPerSecond: config.admission.connectRatePerAddress,
          up: () => share.up(),
          log: this.#log,
        })
      }
    }
    // aedes reports here what fails in its background work (wills of dead nodes, the store); unheard,
    // an 'error' event would end the process. Its typings list only the client events.
    const emitter: NodeJS.EventEmitter = aedes
    emitter.on('error', (err: Error) => this.#log.error({ err: err.message }, 'MQTT broker error'))
    // From CONNACK 0 on, packets may be as large as a publish; the guard held them to the CONNECT limit.
    aedes.on('connackSent', (connack, client) => {
      if (connack.returnCode === 0) openFrames(client.conn)
    })
    aedes.on('clientReady', (client) => {
      // aedes says ready once CONNACK is written; a link lost in between has already been told as a
      // disconnect, and registering the client now would leave a unit that is gone standing connected.
      if ((client as Client & AedesInternals).closed === true) return
      this.#sessions.add(client)
      this.#readyAt.set(client, Date.now())
      this.#current.set(client.id, client)
      this.#unitBrokers?.here(client.id)
      metrics.connects.inc()
      metrics.connections.set(aedes.connectedClients)
      bus.emit('device.connected', { deviceId: client.id, at: Date.now() })
    })
    aedes.on('clientDisconnect', (client) => {
      metrics.connections.set(aedes.connectedClients)
      if (this.#current.get(client.id) !== client) return
      this.#current.delete(client.id)
      this.#unitBrokers?.gone(client.id)
      // aedes marks a client that sent DISCONNECT; anything else lost its socket and had its will published.
      const clean = (client as Client & AedesInternals)._disconnected === true
      bus.emit('device.disconnected', {
        deviceId: client.id,
        at: Date.now(),
        reason: clean ? 'clean' : 'will',
      })
    })
    // Refusals and kicks reach aedes as errors too: every reason but the quiet ones is decided here.
    aedes.on('clientError', (client, err) => {
      this.#noteError(client, err)
      this.#log.debug({ device: client.id, err: err.message }, 'client error')
    })
    aedes.on('connectionError', (client, err) => {
      this.#noteError(client, err)
      this.#log.debug({ device: client?.id, err: err.message }, 'connection error')
    })
    this.#aedes = aedes
    this.#stopping = false
    this.#offRevoked = bus.on('device.revoked', (e) => this.#closeRevoked(e.deviceId))
    if (config.plainHost !== null) {
      const server = net.createServer({ noDelay: true }, (socket) =>
        this.#unproxy(socket, (rest) => this.#onConnection(aedes, socket, rest)),
      )
      this.#server = server
      await this.#listen(server, config.plainHost, config.mqttPort)
    }
    if (this.#d.tls) {
      const tlsServer = this.#d.tls.mqttServer((socket) => this.#onConnection(aedes, socket))
      // Behind a proxy the PROXY header precedes the TLS handshake: a TCP server reads it, then hands
      // the socket to the TLS server, which takes the bytes already read as the handshake's first.
      const server = this.#proxies
        ? net.createServer({ noDelay: true }, (socket) =>
            this.#unproxy(socket, (rest) => {
              if (rest.length > 0) socket.unshift(rest)
              tlsServer.emit('connection', socket)
            }),
          )
        : tlsServer
      this.#tlsServer = server
      await this.#listen(server, config.host, config.mqttsPort)
    }
  }

  /**
   * A connection from a trusted proxy opens with a PROXY header naming the unit's address, which is
   * then the one its budgets and logs go by; others go on as they are. `next` gets the bytes read past
   * the header.
   */
  #unproxy(socket: net.Socket, next: (rest: Buffer) => void): void {
    const peer = socket.remoteAddress
    if (
      !this.#proxies ||
      peer === undefined ||
      !this.#proxies.check(peer, net.isIP(peer) === 6 ? 'ipv6' : 'ipv4')
    ) {
      next(EMPTY)
      return
    }
    readProxyHeader(socket, PROXY_HEADER_TIMEOUT_MS, (err, source, rest) => {
      if (err) {
        this.#d.metrics.proxyHeadersRefused.inc()
        this.#log.debug({ peer, err: err.message }, 'connection from a proxy refused')
        return
      }
      if (source !== null) {
        const key = peerKey(socket)
        this.#proxiedSources.set(key, source)
        socket.once('close', () => this.#proxiedSources.delete(key))
      }
      next(rest)
    })
  }

  /** The unit's address: its own, or the one its proxy named ('unknown' over a duplex pair). */
  #addressOf(client: Client): string {
    const conn = (client as Client & { conn?: { remoteAddress?: string; remotePort?: number } }).conn
    if (this.#proxiedSources.size > 0 && conn) {
      const source = this.#proxiedSources.get(peerKey(conn))
      if (source !== undefined) return source
    }
    return conn?.remoteAddress ?? 'unknown'
  }

  /**
   * A new connection, plain or TLS (after its handshake): handed to aedes. `rest`: bytes read past a
   * PROXY header, fed in through the frame guard as if just received.
   */
  #onConnection(aedes: Aedes, socket: net.Socket, rest: Buffer = EMPTY): void {
    const client = aedes.handle(guardFrames(socket, this.#frameLimits, this.#onFrameRefused))
    if (rest.length > 0) socket.push(rest)
    this.#sockets.set(client, socket)
    // Counted when the socket is gone, once per connection, whatever ended it.
    socket.once('close', () =>
      this.#d.metrics.disconnects.inc({
        reason: this.#reasonFor(aedes, client, socket),
        stage: this.#sessions.has(client) ? 'session' : 'connect',
      }),
    )
  }

  async #listen(server: net.Server, host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.#log.error({ err }, 'MQTT server error'))
    const a = server.address()
    this.#log.info({ host, port: a && typeof a === 'object' ? a.port : port }, 'MQTT listening')
  }

  /** Stops accepting, then closes every client and the broker. */
  async stop(): Promise<void> {
    const servers = [this.#server, this.#tlsServer].filter((x) => x !== null)
    const aedes = this.#aedes
    const share = this.#share
    const takeovers = this.#takeovers
    this.#server = null
    this.#tlsServer = null
    this.#aedes = null
    this.#share = null
    this.#takeovers = null
    this.#unitBrokers = null
    this.#clusterGate = null
    this.#stopping = true
    this.#offRevoked?.()
    this.#offRevoked = null
    // Stop accepting, then close the broker: it ends every client, and only then can the server finish closing.
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    await takeovers?.stop()
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await closed
    // After aedes: closing its clients still writes to the shared store (their wills, their sessions).
    await share?.close()
    this.#current.clear()
  }

  /** Sends a command to a unit; QoS 1 so a unit that is away gets it on a persistent session. */
  publish(
    topic: string,
    payload: string,
    opts: { qos: 0 | 1; retain?: boolean } = { qos: 1 },
  ): Promise<void> {
    const aedes = this.#aedes
    if (!aedes) return Promise.reject(new Error('broker is stopped'))
    return new Promise((resolve, reject) => {
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: opts.qos,
          retain: opts.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      )
    })
  }

  /**
   * Lets a feature withhold a message from one unit when it is about to be delivered: live, from a
   * session's offline queue, or retained on SUBSCRIBE (aedes calls `authorizeForward` for each). Returns
   * the function that removes the filter.
   */
  filterForward(fn: ForwardFilter): () => void {
    this.#forwardFilters.add(fn)
    return () => this.#forwardFilters.delete(fn)
  }

  #authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const payload = packet.payload as Buffer
    if (this.#dropped.has(payload)) return null
    for (const f of this.#forwardFilters) if (!f(client, client.id, packet.topic, payload)) return null
    return packet
  }

  readonly #onFrameRefused = (r: FrameRefusal, socket: net.Socket): void => {
    if (r.malformed) {
      this.#log.debug({ packetType: r.packetType }, 'malformed MQTT remaining length; connection closed')
      return
    }
    this.#d.metrics.framesRefused.inc({ stage: r.stage })
    // Before CONNACK anyone can send these: counted, and logged only at debug, so they cannot flood the log.
    const device = (socket as net.Socket & { client?: Client }).client?.id
    const at = r.stage === 'session' ? 'warn' : 'debug'
    this.#log[at](
      { device, stage: r.stage, packetType: r.packetType, declared: r.declared },
      'MQTT packet over the size limit; connection closed',
    )
  }

  /**
   * A disabled unit, or one whose secret was rotated, loses its live connection now: its session
   * was authenticated with credentials that are no longer good. Not a clean DISCONNECT, so its will
   * is published and presence marks it offline. Reconnecting meets the registry's refusal.
   */
  #closeRevoked(deviceId: string): void {
    // aedes registers a client before its CONNACK goes out and `clientReady` puts it in #current.
    const registered = (this.#aedes as (Aedes & { clients: Record<string, Client | undefined> }) | null)
      ?.clients[deviceId]
    const client = this.#current.get(deviceId) ?? registered
    if (!client) return
    this.#endedBy.set(client, 'revoked')
    this.#log.info({ device: deviceId }, 'credentials revoked; closing the live connection')
    client.close()
  }

  /**
   * A will a dead gateway left, published by this one (aedes, after three missed heartbeats): it says
   * `offline` unless the unit has had a session on another gateway since. Redis down: published.
   */
  #deadNodeWill(packet: PublishPacket & WillFields, done: (err?: Error | null) => void): void {
    const unitBrokers = this.#unitBrokers
    const unit = packet.clientId
    if (!unitBrokers || unit === undefined) {
      done(null)
      return
    }
    // Whether that broker still lives does not matter (aedes hears a new one only after a minute): if
    // it died too, it left a will of its own for the unit, which says `offline` in its turn.
    unitBrokers.where(unit).then(
      (at) => (at !== null && at !== packet.brokerId ? defuseWill(packet, done) : done(null)),
      () => done(null),
    )
  }

  /**
   * The unit got a session on another gateway [MQTT-3.1.4-2]: its connection here is stale. Closed with
   * its will dropped (the unit is not offline), and not told on the bus as a disconnect: this node's view
   * of the unit ends here, the other node's begins.
   */
  #closeMovedAway(deviceId: string): void {
    const registered = (this.#aedes as (Aedes & { clients: Record<string, Client | undefined> }) | null)
      ?.clients[deviceId]
    const client = registered ?? this.#current.get(deviceId)
    if (!client || (client as Client & AedesInternals).closed === true) return
    this.#movedAway.add(client)
    this.#endedBy.set(client, 'takeover')
    if (this.#current.get(deviceId) === client) this.#current.delete(deviceId)
    this.#log.debug({ device: deviceId }, 'unit connected to another gateway; closing its stale connection')
    client.close()
  }

  /**
   * With gateways sharing Redis, a will this node must not publish as it stands; true when `done` has
   * been called for it.
   */
  #sharedWill(client: Client, packet: PublishPacket, done: (err?: Error | null) => void): boolean {
    // aedes drops a will whose publish is refused (lib/client.js `close`): the unit is online elsewhere.
    if (this.#movedAway.has(client)) {
      done(new Error('the unit has a session on another gateway'))
      return true
    }
    // A gateway that died left this will; aedes hands it over with the unit's live connection here.
    const willOf = (packet as PublishPacket & WillFields).brokerId
    if (
      willOf !== undefined &&
      willOf !== this.#aedes?.id &&
      (client as Client & AedesInternals).closed !== true
    ) {
      defuseWill(packet, done)
      return true
    }
    return false
  }

  #noteError(client: Client | null | undefined, err: Error): void {
    if (client && !this.#endedBy.has(client)) this.#endedBy.set(client, reasonOfError(err))
  }

  /** Why a connection ended: the error aedes reported, else what the connection itself shows. */
  #reasonFor(aedes: Aedes, client: Client, socket: net.Socket): DisconnectReason {
    const err = this.#endedBy.get(client)
    if (err) return err
    if ((client as Client & AedesInternals)._disconnected === true) return 'clean'
    if (socket.readableEnded) return 'peer-closed'
    if (this.#stopping) return 'shutdown'
    // aedes closes a client without an error for a takeover [MQTT-3.1.4-2] (the newer one is registered
    // by the time the old socket reports its close) and for a packet type a client may not send.
    const current = (aedes as Aedes & { clients: Record<string, Client | undefined> }).clients[client.id]
    return current !== undefined && current !== client ? 'takeover' : 'protocol-error'
  }

  /**
   * Cheapest checks first, so that junk and floods cost little and spend no one
   * else's budget: the CONNECT's own fields, then the registry (in memory), then
   * the sender's address budget and its backoff for this id, then the fleet's
   * budget, and only then scrypt (the secret check), whose slots are shared.
   */
  async #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<void> {
    // Client id = username = device id: one identity, and aedes takes over a stale session by client id.
    if (!DeviceId.safeParse(client.id).success || username !== client.id) {
      throw refusal(
        CONNACK.IDENTIFIER_REJECTED,
        'client id must equal the device id used as username',
        'refused-auth',
      )
    }
    if (this.#d.tls && !this.#d.tls.unitCertificateMatches(this.#sockets.get(client), client.id)) {
      throw refusal(CONNACK.NOT_AUTHORIZED, 'the unit certificate names another unit', 'refused-auth')
    }
    if (!password || password.length === 0 || password.length > 256) {
      throw refusal(CONNACK.BAD_CREDENTIALS, 'bad user name or password', 'refused-auth')
    }
    const will = this.#willTopics.get(client)
    if (will !== undefined && will !== null && !mayWill(client.id, will)) {
      throw refusal(CONNACK.NOT_AUTHORIZED, 'a will must be the unit’s own status topic', 'refused-auth')
    }
    const known = this.#d.registry.get(client.id)
    // Unknown ids are refused before any budget is spent: a scan of ids costs the fleet nothing.
    if (!known) throw refusal(CONNACK.BAD_CREDENTIALS, 'bad user name or password', 'refused-auth')
    if (!known.enabled) throw refusal(CONNACK.NOT_AUTHORIZED, 'device is disabled', 'refused-auth')
    const address = this.#addressOf(client)
    if (!this.#addressGates.tryAdmit(address)) {
      throw refusal(
        CONNACK.SERVER_UNAVAILABLE,
        'too many connections from this address; retry later',
        'refused-admission',
      )
    }
    if (this.#backoff.waitMs(client.id, address) > 0) {
      throw refusal(
        CONNACK.SERVER_UNAVAILABLE,
        'too many failed attempts for this unit; retry later',
        'refused-backoff',
      )
    }
    if (!this.#gate.tryAdmit()) {
      throw refusal(CONNACK.SERVER_UNAVAILABLE, 'admission rate exceeded; retry later', 'refused-admission')
    }
    const verdict = this.#clusterGate ? await this.#clusterGate.admitFrom(address) : 'admitted'
    if (verdict !== 'admitted') {
      throw refusal(
        CONNACK.SERVER_UNAVAILABLE,
        verdict === 'over-address'
          ? 'too many connections from this address across the cluster; retry later'
          : "the cluster's admission rate exceeded; retry later",
        'refused-admission',
      )
    }
    this.#holdYoungSession(client.id)
    let device: Awaited<ReturnType<DeviceRegistry['authenticate']>>
    // A connection seen to close while its check waits in line leaves the line. aedes does not read while
    // it authenticates, so a quiet close may only be seen later: the line's own time bound covers that.
    const gone = new AbortController()
    const onClose = () => gone.abort()
    client.conn.once('close', onClose)
    try {
      device = await this.#d.registry.authenticate(client.id, password.toString('utf8'), gone.signal)
    } catch (err) {
      // A shared database that does not answer says nothing about the secret: the unit comes back later.
      this.#log.warn(
        { device: client.id, err: (err as Error).message },
        'registry not readable; connect refused',
      )
      throw refusal(CONNACK.SERVER_UNAVAILABLE, 'the registry cannot be read; retry later', 'refused-busy')
    } finally {
      client.conn.off('close', onClose)
    }
    if (device === 'busy')
      throw refusal(
        CONNACK.SERVER_UNAVAILABLE,
        'too many connections being checked; retry later',
        'refused-busy',
      )
    if (!device) {
      this.#backoff.failed(client.id, address)
      throw refusal(CONNACK.BAD_CREDENTIALS, 'bad user name or password', 'refused-auth')
    }
    this.#backoff.succeeded(client.id, address)
    // Checked again: a session may have become ready while the secret was checked.
    this.#holdYoungSession(client.id)
    // Before aedes registers the session: the node holding an older connection of the unit must drop it
    // with its will unsent, and hears this before aedes' own notice (takeover-notices.ts).
    if (this.#takeovers) {
      try {
        await this.#takeovers.announce(client.id)
      } catch (err) {
        this.#log.warn({ device: client.id, err: (err as Error).message }, 'takeover notice not sent')
        throw refusal(
          CONNACK.SERVER_UNAVAILABLE,
          'the other gateways cannot be told of this session; retry later',
          'refused-cluster',
        )
      }
    }
  }

  /**
   * A unit's session younger than the hold is not taken over [MQTT-3.1.4-2]; the newcomer gets
   * CONNACK 3 and retries. In a reconnect storm the kernel's accept queue overflows and holds some
   * connections half-open; their units give up on them, connect again and get a session, and then the
   * abandoned connection arrives, CONNECT and all, and would close the unit's live session. A unit whose
   * link really dropped right after connecting waits out the hold before its new connection is let in.
   * With shared presence the hold covers the unit's session on any gateway (as the others last heard).
   */
  #holdYoungSession(id: string): void {
    const holdMs = this.#d.config.admission.takeoverHoldMs
    if (holdMs === 0) return
    const live = this.#current.get(id)
    // A session on another gateway counts too: a connection a proxy placed elsewhere (a unit's address
    // changed, or the proxy moved it) after its unit gave up on it would take that session over as well.
    const since = live ? (this.#readyAt.get(live) ?? 0) : (this.#d.sessionElsewhere?.(id) ?? null)
    if (since === null) return
    const age = Date.now() - since
    if (age < holdMs) {
      throw refusal(
        CONNACK.SERVER_UNAVAILABLE,
        'this unit has a session that just started; retry later',
        'refused-takeover',
      )
    }
  }

  #authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    if (packet.topic.startsWith('$SYS/')) {
      done(kick('$SYS topics are reserved'))
      return
    }
    if (client === null) {
      // A will restored from shared persistence after its gateway died: only status topics qualify.
      if (!packet.topic.endsWith('/status')) done(new Error('not a status topic'))
      else this.#deadNodeWill(packet as PublishPacket & WillFields, done)
      return
    }
    // Wills of moved or dead units exist only with gateways sharing Redis: one gateway skips the checks.
    if (this.#clustered && this.#sharedWill(client, packet, done)) return
    const kind = publishKind(client.id, packet.topic)
    if (kind === null) {
      this.#d.metrics.invalid.inc({ reason: 'foreign-topic' })
      this.#log.warn({ device: client.id, topic: packet.topic }, 'publish outside own topics; disconnecting')
      done(kick('not authorized for this topic'))
      return
    }
    // Only a unit's status is kept for later subscribers (proto TOPICS: `retain`); elsewhere the flag
    // is cleared, so a unit cannot make the broker store whatever it publishes.
    if (packet.retain && !TOPICS[kind].retain) packet.retain = false
    const payload = packet.payload as Buffer
    this.#d.ingest.handle(client.id, kind, payload, Date.now(), (err, dropped) => {
      if (dropped) {
        // Acknowledged (a unit cannot fix it by retrying) but neither retained nor delivered.
        packet.retain = false
        this.#dropped.add(payload)
      }
      done(err)
    })
  }
}
