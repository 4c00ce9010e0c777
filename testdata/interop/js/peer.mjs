// A js-libp2p gossipsub peer (ChainSafe @chainsafe/libp2p-gossipsub 14) driven
// by peermesh's Go interop tests through internal/interop.
//
// Usage: node peer.mjs '<config JSON>'
//
// Config (all optional):
//   profile        "waku" | "libp2p" (default "libp2p"). waku: multicodecs
//                  [/vac/waku/relay/2.0.0, /meshsub/1.2.0, 1.1.0, 1.0.0],
//                  StrictNoSign, msg id sha256(data). libp2p: meshsub ids,
//                  StrictSign, msg id from||seqno (what peermesh uses).
//   topics         topics to subscribe to at start ([] by default)
//   D, Dlo, Dhi, Dout, heartbeatMs   mesh parameters
//   floodPublish   boolean (default true, the js default)
//   dial           multiaddrs to dial after start
//   listen         listen multiaddrs (default ["/ip4/127.0.0.1/tcp/0"])
//   keySeedHex     32-byte hex seed for a deterministic Ed25519 identity
//   keyType        "Ed25519" (default) or "RSA" (2048 bits; messages then carry key)
//   gossipsub      extra GossipsubOpts passed through as given (JSON values only,
//                  e.g. {"doPX": true, "idontwantMinDataSize": 0}); applied last
//
// Output: one JSON object per line on stdout, each with an "event" field:
//   ready {peerId, addrs, protocols}, subscription-change {peer, subscriptions},
//   message {topic, from, seqno, dataHex, msgIdHex, signed, keyHex, propagationSource},
//   graft/prune {peer, topic, direction}, peer-connect/peer-disconnect {peer},
//   and command replies (with the command's "id" echoed): published, mesh,
//   peers, subscribed, unsubscribed, dialed, error, stopped.
//
// Commands: one JSON object per line on stdin, each with a "cmd" field:
//   {cmd:"publish", topic, dataHex}   {cmd:"mesh", topic}   {cmd:"peers", topic}
//   {cmd:"subscribe", topic}   {cmd:"unsubscribe", topic}   {cmd:"dial", addr}
//   {cmd:"scores"} (js's score of every peer it knows, to check it does not
//   penalise us)
//   {cmd:"stop"}. End of stdin also stops the peer, so it never outlives
//   the Go test that started it.

// libp2p 2.x calls Promise.withResolvers, which Node 20 lacks. The polyfill
// must run before libp2p loads, hence the dynamic imports below.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { createHash } = await import('node:crypto')
const { createInterface } = await import('node:readline')
const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { gossipsub } = await import('@chainsafe/libp2p-gossipsub')
const { generateKeyPair, generateKeyPairFromSeed, publicKeyToProtobuf } = await import('@libp2p/crypto/keys')
const { multiaddr } = await import('@multiformats/multiaddr')

const WAKU_RELAY = '/vac/waku/relay/2.0.0'
const MESHSUB = ['/meshsub/1.2.0', '/meshsub/1.1.0', '/meshsub/1.0.0']

const emit = (event, fields = {}) => {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}
const toHex = (b) => (b == null ? undefined : Buffer.from(b).toString('hex'))
const fromHex = (s) => new Uint8Array(Buffer.from(s ?? '', 'hex'))

// msgIdFromSeqno is the spec's default id, from || seqno (8 bytes big-endian),
// the same bytes as peermesh's wire.MsgIDFromSeqno and go's DefaultMsgIdFn.
function msgIdFromSeqno (msg) {
  if (msg.type !== 'signed') {
    throw new Error('from||seqno message id needs a signed message')
  }
  const from = msg.from.toMultihash().bytes
  const id = new Uint8Array(from.length + 8)
  id.set(from, 0)
  new DataView(id.buffer).setBigUint64(from.length, msg.sequenceNumber)
  return id
}

// msgIdSha256Data is Waku's id, as wire.MsgIDSHA256Data.
function msgIdSha256Data (msg) {
  return new Uint8Array(createHash('sha256').update(msg.data).digest())
}

const config = JSON.parse(process.argv[2] ?? '{}')
const profile = config.profile ?? 'libp2p'
if (profile !== 'waku' && profile !== 'libp2p') {
  throw new Error(`unknown profile ${profile}`)
}
const waku = profile === 'waku'
const msgIdFn = waku ? msgIdSha256Data : msgIdFromSeqno

const privateKey = config.keyType === 'RSA'
  ? await generateKeyPair('RSA', 2048)
  : config.keySeedHex != null
    ? await generateKeyPairFromSeed('Ed25519', fromHex(config.keySeedHex))
    : await generateKeyPair('Ed25519')

const gossipOpts = {
  globalSignaturePolicy: waku ? 'StrictNoSign' : 'StrictSign',
  msgIdFn,
  allowPublishToZeroTopicPeers: true,
  emitSelf: false,
  fallbackToFloodsub: false,
  floodPublish: config.floodPublish ?? true
}
for (const k of ['D', 'Dlo', 'Dhi', 'Dout']) {
  if (config[k] != null) gossipOpts[k] = config[k]
}
if (config.heartbeatMs != null) gossipOpts.heartbeatInterval = config.heartbeatMs
Object.assign(gossipOpts, config.gossipsub ?? {})

const node = await createLibp2p({
  start: false,
  privateKey,
  addresses: { listen: config.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: {
    // Tests open many connections from 127.0.0.1 in a burst; the default
    // inbound threshold (5/s per host) would refuse them.
    allow: ['/ip4/127.0.0.0/ipcidr/8'],
    inboundConnectionThreshold: 10000,
    maxIncomingPendingConnections: 1000
  },
  services: {
    identify: identify(),
    pubsub: gossipsub(gossipOpts)
  }
})
const ps = node.services.pubsub
// Set before start: start() registers a handler per multicodec, and outbound
// streams negotiate this list in order (js-waku does the same).
ps.multicodecs = waku ? [WAKU_RELAY, ...MESHSUB] : [...MESHSUB]

ps.addEventListener('subscription-change', (evt) => {
  emit('subscription-change', {
    peer: evt.detail.peerId.toString(),
    subscriptions: evt.detail.subscriptions.map(s => ({ topic: s.topic, subscribe: s.subscribe }))
  })
})
ps.addEventListener('gossipsub:message', (evt) => {
  const { msg, propagationSource } = evt.detail
  const signed = msg.type === 'signed'
  emit('message', {
    topic: msg.topic,
    dataHex: toHex(msg.data),
    msgIdHex: toHex(msgIdFn(msg)),
    signed,
    from: signed ? msg.from.toString() : undefined,
    seqno: signed ? msg.sequenceNumber.toString() : undefined,
    keyHex: signed && msg.key != null ? toHex(publicKeyToProtobuf(msg.key)) : undefined,
    propagationSource: propagationSource.toString()
  })
})
for (const kind of ['graft', 'prune']) {
  ps.addEventListener(`gossipsub:${kind}`, (evt) => {
    emit(kind, { peer: evt.detail.peerId, topic: evt.detail.topic, direction: evt.detail.direction })
  })
}
node.addEventListener('peer:connect', (evt) => emit('peer-connect', { peer: evt.detail.toString() }))
node.addEventListener('peer:disconnect', (evt) => emit('peer-disconnect', { peer: evt.detail.toString() }))

await node.start()
for (const t of config.topics ?? []) ps.subscribe(t)
emit('ready', {
  peerId: node.peerId.toString(),
  addrs: node.getMultiaddrs().map(String),
  protocols: ps.multicodecs,
  profile
})
for (const a of config.dial ?? []) {
  node.dial(multiaddr(a)).catch((err) => emit('error', { cmd: 'dial', addr: a, error: String(err) }))
}

let stopping = false
async function stop (id) {
  if (stopping) return
  stopping = true
  try {
    await node.stop()
  } finally {
    emit('stopped', { id })
    process.exit(0)
  }
}

async function handle (c) {
  switch (c.cmd) {
    case 'publish': {
      const res = await ps.publish(c.topic, fromHex(c.dataHex))
      return { event: 'published', recipients: res.recipients.map(String) }
    }
    case 'mesh':
      return { event: 'mesh', topic: c.topic, peers: ps.getMeshPeers(c.topic) }
    case 'peers':
      return {
        event: 'peers',
        topic: c.topic,
        connected: node.getPeers().map(String),
        subscribers: c.topic != null ? ps.getSubscribers(c.topic).map(String) : undefined
      }
    case 'scores': {
      const scores = {}
      for (const id of ps.peers.keys()) scores[id] = ps.score.score(id)
      return { event: 'scores', scores }
    }
    case 'subscribe':
      ps.subscribe(c.topic)
      return { event: 'subscribed', topic: c.topic }
    case 'unsubscribe':
      ps.unsubscribe(c.topic)
      return { event: 'unsubscribed', topic: c.topic }
    case 'dial':
      await node.dial(multiaddr(c.addr))
      return { event: 'dialed', addr: c.addr }
    case 'stop':
      await stop(c.id)
      return null
    default:
      throw new Error(`unknown command ${JSON.stringify(c.cmd)}`)
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  if (line.trim() === '') return
  let c
  try {
    c = JSON.parse(line)
  } catch (err) {
    emit('error', { error: `bad command line: ${err.message}` })
    return
  }
  handle(c).then(
    (reply) => { if (reply != null) emit(reply.event, { ...reply, id: c.id }) },
    (err) => emit('error', { id: c.id, cmd: c.cmd, error: String(err?.message ?? err) })
  )
})
rl.on('close', () => { stop() })
process.on('SIGTERM', () => { stop() })
