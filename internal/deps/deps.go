// Package deps pins the module's direct dependencies while the packages that
// use them are being written; it is removed once each is imported for real.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/asynkron/protoactor-go/actor"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p/core/host"
	_ "github.com/libp2p/go-libp2p/core/record"
	_ "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	_ "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	_ "github.com/libp2p/go-libp2p/p2p/net/swarm"
	_ "github.com/libp2p/go-libp2p/p2p/security/noise"
	_ "github.com/libp2p/go-libp2p/p2p/transport/tcp"
	_ "github.com/multiformats/go-multiaddr"
	_ "github.com/multiformats/go-varint"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/collectors"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "go.etcd.io/bbolt"
	_ "google.golang.org/protobuf/proto"
	_ "google.golang.org/protobuf/testing/protocmp"
)
