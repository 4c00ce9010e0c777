package router_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

func TestTwoHostsExchangeMessages(t *testing.T) {
	for _, p := range []wire.Profile{wire.ProfileWaku, wire.ProfileLibp2p} {
		t.Run(p.String(), func(t *testing.T) {
			a, b := newNode(t, router.DefaultConfig(p)), newNode(t, router.DefaultConfig(p))
			a.join(t, "t", nil)
			b.join(t, "t", nil)
			connect(t, a, b)
			eventually(t, 10*time.Second, "b subscribed at a", func() error {
				if m := a.mesh(t, "t"); len(m.GetPeers()) != 1 {
					return fmt.Errorf("a sees %d peers", len(m.GetPeers()))
				}
				return nil
			})
			a.tick()
			b.tick()
			eventually(t, 10*time.Second, "mesh", func() error {
				if len(a.mesh(t, "t").GetMesh()) != 1 || len(b.mesh(t, "t").GetMesh()) != 1 {
					return fmt.Errorf("meshes %v %v", a.mesh(t, "t").GetMesh(), b.mesh(t, "t").GetMesh())
				}
				return nil
			})
			pub := a.request(t, &pubsubv1.Publish{Topic: "t", Data: []byte("hello")}).(*pubsubv1.Published)
			if pub.GetError() != "" || pub.GetPeers() != 1 {
				t.Fatalf("published %v", pub)
			}
			d := actortest.Fish(b.sub, func(d *pubsubv1.Delivered) bool { return bytes.Equal(d.GetMessage().GetData(), []byte("hello")) })
			if !bytes.Equal(d.GetMessageId(), pub.GetMessageId()) {
				t.Fatalf("ids differ: %x vs %x", d.GetMessageId(), pub.GetMessageId())
			}
		})
	}
}
