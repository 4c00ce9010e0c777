package rest

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/peermesh/peermesh/waku/message"
)

// Config bounds the REST server and its relay cache.
type Config struct {
	// MaxBodyBytes limits every request body; larger bodies get 413.
	MaxBodyBytes int64
	// RequestTimeout bounds the node request behind one HTTP request
	// (nwaku's publish timeout is 5 s).
	RequestTimeout time.Duration
	// CacheCapacity is the number of messages kept per topic for GET
	// /relay/v1/messages (--rest-relay-cache-capacity); the oldest is dropped
	// when a topic's cache is full.
	CacheCapacity int
	// MaxCachedTopics bounds the topics the cache holds; subscribing to
	// more through REST fails with 400.
	MaxCachedTopics int
	// MaxItemsPerRequest bounds the JSON arrays of subscription and peer
	// requests.
	MaxItemsPerRequest int
	// WakuMessages says whether pubsub data is an encoded WakuMessage (the
	// waku profile). When false, publish sends the payload alone and reads
	// return the data as payload.
	WakuMessages bool
	// MessageRules are the WakuMessage rules a publication must keep: the
	// node's relay rules (Node.MessageRules), so REST and relay agree.
	MessageRules message.Rules
	// ClusterID and NumShardsInNetwork map content topics to shards for the
	// autosharding routes (/relay/v1/auto/*); 0 shards turns them off.
	ClusterID          uint16
	NumShardsInNetwork int
	// Admin serves the /admin/v1/* routes (nwaku's --rest-admin, off by
	// default: they list and add peers and change the log level).
	Admin bool
	// AllowOrigins are the origins browsers may call the API from
	// (nwaku's --rest-allow-origin; * and ? are wildcards); none sends no
	// CORS headers.
	AllowOrigins []string
	// LogLevel, when set, is the level POST /admin/v1/log-level changes.
	LogLevel *slog.LevelVar
}

// DefaultConfig returns a configuration sized like nwaku's REST server.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:       1 << 20,
		RequestTimeout:     5 * time.Second,
		CacheCapacity:      50,
		MaxCachedTopics:    64,
		MaxItemsPerRequest: 64,
		WakuMessages:       true,
		MessageRules:       message.DefaultRules(),
		NumShardsInNetwork: 1,
	}
}

// Validate names every invalid field (the errors joined).
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("rest: MaxBodyBytes %d must be positive", c.MaxBodyBytes))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("rest: RequestTimeout %s must be positive", c.RequestTimeout))
	}
	if c.CacheCapacity < 1 {
		errs = append(errs, fmt.Errorf("rest: CacheCapacity %d must be positive", c.CacheCapacity))
	}
	if c.MaxCachedTopics < 1 {
		errs = append(errs, fmt.Errorf("rest: MaxCachedTopics %d must be positive", c.MaxCachedTopics))
	}
	if c.MaxItemsPerRequest < 1 {
		errs = append(errs, fmt.Errorf("rest: MaxItemsPerRequest %d must be positive", c.MaxItemsPerRequest))
	}
	return errors.Join(errs...)
}
