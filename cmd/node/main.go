package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/internal/config"
	"github.com/peermesh/peermesh/internal/rest"
)

// shutdownTimeout bounds the graceful stop after the first signal; the HTTP
// servers get httpGrace of it, so that a slow client cannot use up the time
// the node needs to leave its topics and flush its peer store.
const (
	shutdownTimeout = 5 * time.Second
	httpGrace       = 2 * time.Second
)

// newHTTPServer bounds every phase of a request, so slow clients cannot hold
// connections (and the shutdown) open.
func newHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: time.Minute,
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so exit codes are explicit: 0 after a clean
// stop, 1 on a runtime failure, 2 on an invalid setting.
func run(args []string, stdout, stderr io.Writer) int {
	s, err := config.Load(args, config.LookupEnv)
	switch {
	case errors.Is(err, config.ErrHelp):
		config.Usage(stdout)
		return 0
	case errors.Is(err, config.ErrVersion):
		fmt.Fprintf(stdout, "%s %s\n", config.Name, peermesh.Version)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\nRun with --help for the list of settings.\n", config.Name, err)
		return 2
	}
	s = s.Shifted()
	log := newLogger(s, stderr)
	for _, name := range config.UnknownEnv(os.Environ()) {
		log.Warn("environment variable names no setting; ignored (see --help)", "name", name)
	}
	if err := serve(s, log); err != nil {
		log.Error("node failed", "err", err)
		return 1
	}
	return 0
}

// logLevel is the level of the process's logger; POST
// /admin/v1/log-level changes it.
var logLevel = new(slog.LevelVar)

func newLogger(s config.Settings, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel))
	logLevel.Set(level)
	opts := &slog.HandlerOptions{Level: logLevel}
	if strings.EqualFold(s.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// nodeConfig maps the process settings onto the embedding Config.
func nodeConfig(s config.Settings, log *slog.Logger, reg prometheus.Registerer) (peermesh.Config, error) {
	cfg := peermesh.DefaultConfig()
	if s.NodeKey != "" {
		k, err := peermesh.ParseKey(s.NodeKey)
		if err != nil {
			return cfg, fmt.Errorf("--nodekey: %w", err)
		}
		cfg.Key = k
	}
	cfg.DataDir = s.DataDir
	cfg.ListenAddress = s.ListenAddress
	cfg.TCPPort = s.TCPPort
	cfg.WebSocketSupport, cfg.WebSocketPort = s.WebSocketSupport || s.WebSocketSecureSupport, s.WebSocketPort
	if s.WebSocketSecureSupport {
		cfg.WebSocketSecureCertPath, cfg.WebSocketSecureKeyPath = s.WebSocketSecureCertPath, s.WebSocketSecureKeyPath
	}
	cfg.Profile = string(s.Profile)
	cfg.PubsubTopics = s.Topics()
	cfg.DisableRelay = !s.Relay
	cfg.ClusterID = uint16(s.ClusterID)
	cfg.NumShardsInNetwork = s.NumShards()
	cfg.MaxMessageSize = s.MaxMessageSize()
	cfg.StaticNodes = s.StaticNodes
	cfg.Discv5Discovery, cfg.Discv5UDPPort = s.Discv5Discovery, s.Discv5UDPPort
	cfg.Discv5BootstrapNodes, cfg.Discv5ENRAutoUpdate = s.Discv5BootstrapNodes, s.Discv5ENRAutoUpdate
	cfg.PeerExchange, cfg.PeerExchangeNode = s.PeerExchange, s.PeerExchangeNode
	cfg.MaxConnections = s.MaxConnections
	cfg.PeerStoreCapacity = s.PeerStoreCapacity // 0: peermesh.Config resolves 5 × MaxConnections
	cfg.PeerPersistence = s.PeerPersistence
	cfg.MoveCorruptPeerStore = s.PeerStoreMoveCorrupt
	cfg.IPColocationLimit = s.IPColocationLimit
	cfg.RelayPeerExchange = s.RelayPeerExchange
	cfg.StrictScoring = s.StrictScoring
	cfg.Logger = log
	cfg.Registerer = reg
	return cfg, nil
}

func serve(s config.Settings, log *slog.Logger) error {
	// Catch signals before anything starts, so an early SIGTERM still stops
	// the node gracefully instead of killing it mid-start.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg, err := nodeConfig(s, log, reg)
	if err != nil {
		return err
	}
	node, err := peermesh.New(cfg)
	if err != nil {
		return err
	}
	if _, err := node.Start(); err != nil {
		_ = node.Close(context.Background())
		return err
	}
	log.Info("peermesh node started", "peer_id", node.ID().String(), "version", peermesh.Version, "profile", s.Profile, "data_dir", s.DataDir,
		"cluster_id", s.ClusterID, "topics", s.Topics())
	for _, a := range node.Addrs() {
		log.Info("listening", "multiaddr", a)
	}
	if r := node.ENR(); r != "" {
		log.Info("node record", "enr", r)
	}

	var servers []namedServer
	if s.REST {
		srv, err := restServer(s, node, log)
		if err != nil {
			_ = node.Close(context.Background())
			return err
		}
		servers = append(servers, namedServer{"rest", srv})
	}
	if s.MetricsServer {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		addr := net.JoinHostPort(s.MetricsServerAddress, strconv.Itoa(s.MetricsServerPort))
		servers = append(servers, namedServer{"metrics", newHTTPServer(addr, mux)})
	}
	errc := make(chan error, len(servers))
	if err := listenAll(servers, log, errc); err != nil {
		_ = node.Close(context.Background())
		return err
	}
	statusCtx, stopStatus := context.WithCancel(context.Background())
	defer stopStatus()
	if every := s.StatusEvery(); every > 0 {
		go statusLoop(statusCtx, node, reg, log, every)
	}

	select {
	case sig := <-sigs:
		log.Info("stopping", "signal", sig.String())
	case err := <-errc:
		log.Error("stopping after a server failed", "err", err)
	}
	// A second signal means "now": exit without waiting.
	go func() {
		sig := <-sigs
		log.Warn("second signal, exiting at once", "signal", sig.String())
		os.Exit(1)
	}()
	stopStatus()
	return shutdown(servers, node, log)
}

type namedServer struct {
	name string
	srv  *http.Server
}

// listenAll binds every server (closing the ones already bound if one
// fails) and serves each on its own goroutine; a later serve failure is sent
// on errc.
func listenAll(servers []namedServer, log *slog.Logger, errc chan<- error) error {
	for i, ns := range servers {
		ln, err := net.Listen("tcp", ns.srv.Addr)
		if err != nil {
			for _, started := range servers[:i] {
				_ = started.srv.Close()
			}
			return fmt.Errorf("%s server: listen %s: %w", ns.name, ns.srv.Addr, err)
		}
		log.Info(ns.name+" server listening", "url", "http://"+ln.Addr().String())
		go func() {
			if err := ns.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", ns.name, err)
			}
		}()
	}
	return nil
}

// shutdown stops the HTTP servers (httpGrace at most) and then the node
// (the rest of shutdownTimeout).
func shutdown(servers []namedServer, node *peermesh.Node, log *slog.Logger) error {
	httpCtx, cancelHTTP := context.WithTimeout(context.Background(), httpGrace)
	for _, ns := range servers {
		if err := ns.srv.Shutdown(httpCtx); err != nil {
			log.Warn(ns.name+" server: requests still running, closing them", "err", err)
			_ = ns.srv.Close()
		}
	}
	cancelHTTP()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout-httpGrace)
	defer cancel()
	if err := node.Close(ctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// restServer assembles the REST API: the relay cache actor subscribed to
// the configured topics, and the handlers over the node facade.
func restServer(s config.Settings, node *peermesh.Node, log *slog.Logger) (*http.Server, error) {
	rc := rest.DefaultConfig()
	rc.CacheCapacity = s.RESTRelayCacheCapacity
	rc.Admin, rc.AllowOrigins, rc.LogLevel = s.RESTAdmin, s.RESTAllowOrigins, logLevel
	rc.WakuMessages = s.Profile == config.ProfileWaku
	rc.MessageRules = node.MessageRules()
	rc.ClusterID, rc.NumShardsInNetwork = uint16(s.ClusterID), s.NumShards()
	root := node.System().Root
	props, err := rest.CacheProps(rc, node.Registerer())
	if err != nil {
		log.Warn("REST relay cache metrics not exported", "err", err)
	}
	cache, err := root.SpawnNamed(props, "rest-relay-cache")
	if err != nil {
		return nil, fmt.Errorf("spawn REST relay cache: %w", err)
	}
	relay := &rest.ActorRelay{Root: root, Cache: cache, Node: node}
	ctx, cancel := context.WithTimeout(context.Background(), rc.RequestTimeout)
	defer cancel()
	for _, t := range s.Topics() {
		if err := relay.Subscribe(ctx, t); err != nil {
			log.Warn("REST relay cache not subscribed", "topic", t, "err", err)
		}
	}
	h, err := rest.New(rc, node, relay, peermesh.Version, log)
	if err != nil {
		return nil, err
	}
	return newHTTPServer(net.JoinHostPort(s.RESTAddress, strconv.Itoa(s.RESTPort)), h.Handler()), nil
}
