package heartbeat_test

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/peermesh/peermesh/actors/heartbeat"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
)

// An embedder's actor asks the heartbeat for a tick every hour, the first at
// once, and stops it after the first one. Only protobuf messages cross the
// actor boundary; the example waits on a future for the consumer to finish.
func Example() {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	hb := sys.Root.Spawn(heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{Registerer: prometheus.NewRegistry()}))

	var done *actor.PID // the future waiting for the consumer
	consumer := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *emptypb.Empty:
			done = c.Sender()
			c.Request(hb, &heartbeatv1.Register{Name: "maintenance", Interval: durationpb.New(time.Hour)})
		case *heartbeatv1.Registered:
			fmt.Printf("registered %s error=%q\n", m.GetName(), m.GetError())
		case *heartbeatv1.Tick:
			fmt.Printf("tick %s seq=%d\n", m.GetName(), m.GetSeq())
			c.Request(hb, &heartbeatv1.Unregister{Name: m.GetName()})
		case *heartbeatv1.Unregistered:
			fmt.Printf("unregistered %s found=%v\n", m.GetName(), m.GetFound())
			c.Send(done, m)
		}
	}))
	if _, err := sys.Root.RequestFuture(consumer, &emptypb.Empty{}, 5*time.Second).Result(); err != nil {
		fmt.Println("consumer:", err)
	}
	// Output:
	// registered maintenance error=""
	// tick maintenance seq=1
	// unregistered maintenance found=true
}
