// A js-waku relay node whose only discovery is @waku/discovery's peer
// exchange (wakuPeerExchangeDiscovery, js-waku's peer-exchange client),
// driven by peermesh's Go tests (waku/jswaku) over stdin/stdout, one JSON
// object per line, like peer.mjs.
//
// argv[2] is the configuration: {clusterId, shards}.
// Output: {"event":"ready","peerId","addrs"}, then {"event":"discovered",
// "peer","multiaddrs"} for each peer the peer-exchange discovery emits, and
// one {"id",...} answer per command.
// Commands: dial {addr} (the discovery queries a peer once identify shows it
// serves peer exchange), query {peer, numPeers} (one request with
// WakuPeerExchange, answered with the decoded records: peerId, multiaddrs,
// clusterId, shards, relay), stop.
import { yamux } from "@chainsafe/libp2p-yamux";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { WakuPeerExchange, wakuPeerExchangeDiscovery } from "@waku/discovery";
import { createRelayNode } from "@waku/sdk/relay";
import { out, serveLines } from "./lines.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const clusterId = cfg.clusterId ?? 1;
const shards = cfg.shards ?? [0];
const topics = shards.map((s) => `/waku/2/rs/${clusterId}/${s}`);


const waku = await createRelayNode({
  networkConfig: { clusterId, shards },
  defaultBootstrap: false,
  libp2p: {
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    streamMuxers: [yamux()],
    connectionManager: { minConnections: 0 },
    peerDiscovery: [wakuPeerExchangeDiscovery(topics)]
  }
});
waku.libp2p.addEventListener("peer:discovery", (e) =>
  out({ event: "discovered", peer: e.detail.id.toString(), multiaddrs: e.detail.multiaddrs.map((a) => a.toString()) })
);
await waku.start();
out({ event: "ready", peerId: waku.libp2p.peerId.toString(), addrs: waku.libp2p.getMultiaddrs().map((a) => a.toString()) });

const commands = {
  async dial({ addr }) {
    await waku.libp2p.dial(multiaddr(addr));
    return {};
  },
  async query({ peer, numPeers }) {
    const conn = waku.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer);
    if (!conn) throw new Error("not connected to " + peer);
    const px = new WakuPeerExchange(waku.libp2p.components, topics);
    const { peerInfos, error } = await px.query({ peerId: conn.remotePeer, numPeers });
    if (error) throw new Error("peer exchange: " + error);
    return {
      records: peerInfos.map(({ ENR }) => ({
        peerId: ENR.peerId?.toString(),
        multiaddrs: (ENR.peerInfo?.multiaddrs ?? []).map((a) => a.toString()),
        clusterId: ENR.shardInfo?.clusterId,
        shards: ENR.shardInfo?.shards,
        relay: ENR.waku2?.relay
      }))
    };
  },
  async stop() {
    await waku.stop();
    setTimeout(() => process.exit(0), 50);
    return {};
  }
};

serveLines(commands, () => waku.stop());
