// Command node is the peermesh binary: one node with libp2p on TCP (and
// WebSocket), the peer manager, discovery and the gossipsub mesh, a
// Waku-compatible REST API and a Prometheus /metrics endpoint. Its flags
// are nwaku's where nwaku has one.
//
//	go build -o peermesh ./cmd/node
//	./peermesh                             # defaults: see --help
//	./peermesh --ports-shift=1 --data-dir=./node2 \
//	    --staticnode=/ip4/127.0.0.1/tcp/60000/p2p/<id of the first node>
//
// Settings come from flags, PEERMESH_* environment variables and a TOML file
// (--config-file), in that order of precedence; an invalid setting exits
// with status 2. SIGINT or SIGTERM stops the node gracefully (leave topics,
// flush the peer store, close the host) within 5 s; a second signal exits at
// once.
package main
