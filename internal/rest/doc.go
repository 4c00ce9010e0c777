// Package rest is the node's HTTP API: the Waku REST routes an operator of
// nwaku already knows (/health, /debug/v1/*, /admin/v1/peers, /relay/v1/*)
// plus /admin/v1/scores.
//
// Handlers depend on two narrow interfaces, Node (queries and commands of
// the embedding facade) and Relay (the per-topic message cache), so they are
// tested with httptest and fakes before any network exists.
//
// The relay cache is an actor (CacheProps): it is the subscriber that the
// node delivers messages to, and HTTP goroutines drain it with requests, so
// no state is shared between an actor and the HTTP server.
//
// Bounds: request bodies are limited to Config.MaxBodyBytes (413 when
// larger); each cached topic keeps at most Config.CacheCapacity messages,
// dropping the oldest (counted in peermesh_rest_relay_cache_dropped_total);
// at most Config.MaxCachedTopics topics are cached. Every error is a JSON
// object {"error": "..."} with a 4xx or 5xx status.
package rest
