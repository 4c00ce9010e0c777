package actortest

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Tapped is one message a tapped actor sent or received.
type Tapped struct {
	Message any
	// Peer is the target of a send, or the sender of a received message.
	Peer *actor.PID
}

// Tap records every user message an actor sends and receives. Install it by
// passing Options() to the actor's Props:
//
//	tap := actortest.NewTap()
//	pid := sys.Root.Spawn(dialer.Props(cfg, deps, tap.Options()...))
//
// It is bounded: after TapLimit records per direction it stops storing and
// counts what it left out (Dropped), so a test that relies on a complete
// record can check that it is one.
type Tap struct {
	mu       sync.Mutex
	sent     []Tapped
	received []Tapped
	dropped  int
}

// TapLimit bounds how many messages a Tap stores per direction.
const TapLimit = 1 << 16

// NewTap returns an empty tap.
func NewTap() *Tap { return &Tap{} }

// Options returns the props options that install the tap.
func (tp *Tap) Options() []actor.PropsOption {
	return []actor.PropsOption{
		actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
			return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
				switch env.Message.(type) {
				case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
				default:
					tp.record(&tp.received, Tapped{Message: env.Message, Peer: env.Sender})
				}
				next(c, env)
			}
		}),
		actor.WithSenderMiddleware(func(next actor.SenderFunc) actor.SenderFunc {
			return func(c actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
				tp.record(&tp.sent, Tapped{Message: env.Message, Peer: target})
				next(c, target, env)
			}
		}),
	}
}

func (tp *Tap) record(list *[]Tapped, r Tapped) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(*list) >= TapLimit {
		tp.dropped++
		return
	}
	*list = append(*list, r)
}

// Sent returns a copy of what the tapped actor sent, oldest first.
func (tp *Tap) Sent() []Tapped {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]Tapped(nil), tp.sent...)
}

// Dropped is how many messages the tap saw but did not store because a
// direction already held TapLimit records.
func (tp *Tap) Dropped() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.dropped
}

// Received returns a copy of what the tapped actor received, oldest first.
func (tp *Tap) Received() []Tapped {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]Tapped(nil), tp.received...)
}

// SentOf returns the messages of type T the tapped actor sent.
func SentOf[T any](tp *Tap) []T { return filter[T](tp.Sent()) }

// ReceivedOf returns the messages of type T the tapped actor received.
func ReceivedOf[T any](tp *Tap) []T { return filter[T](tp.Received()) }

func filter[T any](in []Tapped) []T {
	var out []T
	for _, r := range in {
		if v, ok := r.Message.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
