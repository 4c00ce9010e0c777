// Command node runs one peermesh node: libp2p on TCP, the peer manager and
// the gossipsub mesh, a Waku-compatible REST API and a Prometheus /metrics
// endpoint.
//
//	go run ./cmd/node                      # defaults: see --help
//	go run ./cmd/node --tcp-port=60001 --rest-port=8646 --metrics-server-port=8009 \
//	    --data-dir=./node2 --staticnode=/ip4/127.0.0.1/tcp/60000/p2p/<id of the first node>
//
// Settings come from flags, PEERMESH_* environment variables and a TOML file
// (--config-file), in that order of precedence; an invalid setting exits
// with status 2. SIGINT or SIGTERM stops the node gracefully (leave topics,
// flush the peer store, close the host) within 5 s; a second signal exits at
// once.
package main
