package actorkit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds c to reg and returns the collector the caller should use.
//
// When an equal collector is already registered (a second actor of the same
// kind, or one actor's Props built twice on one registry: a node that
// rebuilds an actor after a restart) it returns that one, so both share the
// series instead of failing. Any other failure, typically a name clash with a
// different metric, returns c itself, still counting but not exported, and
// the error for the caller to log: a metric must never keep an actor from
// doing its job.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, same := are.ExistingCollector.(C); same {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metric: %w", err)
}

// Registrar registers a package's collectors one after another and keeps
// every error, so a metrics constructor reads as a list of its collectors.
type Registrar struct {
	Reg  prometheus.Registerer
	errs []error
}

// Err is every registration failure so far, joined; nil when all succeeded.
func (r *Registrar) Err() error { return errors.Join(r.errs...) }

// Add registers c with Register (nothing when r.Reg is nil) and returns the
// collector to use; a failure is kept for Err.
func Add[C prometheus.Collector](r *Registrar, c C) C {
	if r.Reg == nil {
		return c
	}
	got, err := Register(r.Reg, c)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return got
}
