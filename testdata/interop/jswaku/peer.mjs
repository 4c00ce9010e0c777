// A js-waku relay node (@waku/sdk createRelayNode) driven by peermesh's Go
// tests over stdin/stdout, one JSON object per line.
//
// argv[2] is the configuration: {clusterId, shards?, contentTopics?}.
// Output: {"event":"ready","peerId","addrs"}, then {"event":"connect"|
// "disconnect","peer"}, {"event":"message",...} for each decoded message of
// a subscribed content topic, and one {"id",...} answer per command.
// Commands: dial {addr}, metadata {peer}, mesh {topic}, peers, subscribe
// {contentTopic}, send {contentTopic, payload (base64), timestampMs}, stop.
//
// The node is js-waku's default relay node plus TCP and yamux (its default
// is WebSocket with mplex only; cfg.defaults keeps that); it listens on
// 127.0.0.1 only.
import { yamux } from "@chainsafe/libp2p-yamux";
import { tcp } from "@libp2p/tcp";
import { webSockets } from "@libp2p/websockets";
import { all } from "@libp2p/websockets/filters";
import { multiaddr } from "@multiformats/multiaddr";
import { messageHash } from "@waku/message-hash";
import { createDecoder, createEncoder } from "@waku/sdk";
import { createRelayNode } from "@waku/sdk/relay";
import { out, serveLines } from "./lines.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const clusterId = cfg.clusterId ?? 1;
const networkConfig = cfg.contentTopics
  ? { clusterId, contentTopics: cfg.contentTopics }
  : { clusterId, shards: cfg.shards ?? [0] };

const hex = (b) => "0x" + Buffer.from(b).toString("hex");

// cfg.defaults keeps js-waku's own transport and muxer: WebSocket (any
// address, since NODE_ENV=test) and mplex only; the node then listens on
// nothing and only dials.
const libp2p = cfg.defaults
  ? { hideWebSocketInfo: true, connectionManager: { minConnections: 0 } }
  : {
      hideWebSocketInfo: true,
      addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
      transports: [tcp(), webSockets({ filter: all })],
      streamMuxers: [yamux()],
      connectionManager: { minConnections: 0 }
    };
const waku = await createRelayNode({ networkConfig, libp2p });
await waku.start();
waku.libp2p.addEventListener("peer:connect", (e) => out({ event: "connect", peer: e.detail.toString() }));
waku.libp2p.addEventListener("peer:disconnect", (e) => out({ event: "disconnect", peer: e.detail.toString() }));
out({
  event: "ready",
  peerId: waku.libp2p.peerId.toString(),
  addrs: waku.libp2p.getMultiaddrs().map((a) => a.toString()),
  topics: waku.pubsubTopics
});

const commands = {
  async dial({ addr }) {
    await waku.libp2p.dial(multiaddr(addr));
    return {};
  },
  async metadata({ peer }) {
    const conn = waku.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer);
    if (!conn) throw new Error("not connected to " + peer);
    const { shardInfo, error } = await waku.libp2p.services.metadata.query(conn.remotePeer);
    if (error) throw new Error("metadata: " + error);
    return { clusterId: shardInfo.clusterId, shards: shardInfo.shards };
  },
  async mesh({ topic }) {
    return { peers: waku.relay.getMeshPeers(topic) };
  },
  async peers() {
    return { peers: waku.libp2p.getConnections().map((c) => c.remotePeer.toString()) };
  },
  async subscribe({ contentTopic }) {
    const decoder = createDecoder(contentTopic, { clusterId });
    waku.relay.subscribeWithUnsubscribe([decoder], (m) =>
      out({
        event: "message",
        pubsubTopic: m.pubsubTopic,
        contentTopic: m.contentTopic,
        payload: Buffer.from(m.payload).toString("base64"),
        timestamp: m.proto.timestamp?.toString(),
        hash: hex(messageHash(m.pubsubTopic, m.proto))
      })
    );
    return { topic: decoder.pubsubTopic };
  },
  async send({ contentTopic, payload, timestampMs }) {
    const encoder = createEncoder({ contentTopic, pubsubTopicShardInfo: { clusterId } });
    const message = { payload: Buffer.from(payload, "base64"), timestamp: new Date(timestampMs) };
    const res = await waku.relay.send(encoder, message);
    const sent = await encoder.toProtoObj(message);
    return {
      recipients: res.successes.map((p) => p.toString()),
      failures: res.failures.map((f) => String(f.error)),
      topic: encoder.pubsubTopic,
      hash: hex(messageHash(encoder.pubsubTopic, sent))
    };
  },
  async stop() {
    await waku.stop();
    setTimeout(() => process.exit(0), 50);
    return {};
  }
};

serveLines(commands, () => waku.stop());
