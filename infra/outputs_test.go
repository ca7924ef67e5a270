package main

import (
	"reflect"
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/topology"
)

// TestCommandLineOutputs: a full stack names each route's queues and the
// event log's table in its outputs, which `threefactor dlq --stack` reads.
func TestCommandLineOutputs(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		if got, want := path(s.outputs[topology.StackOutputEventLogTable], "Value"), ref(stack.LogicalTableID(topology.EventLogTable)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", topology.StackOutputEventLogTable, got, want)
		}
		// Every route the command line knows has its outputs.
		for _, r := range fooddelivery.App.Topology().RoutesWithDefaults() {
			for _, name := range []string{topology.RouteQueueURLOutput(r.Name), topology.RouteDLQURLOutput(r.Name)} {
				if _, ok := s.outputs[name]; !ok {
					t.Errorf("no output %s", name)
				}
			}
		}
		for _, r := range s.st.Pipeline.Routes {
			for name, q := range map[string]string{
				topology.RouteQueueURLOutput(r.Route.Name): s.id(r.Queue),
				topology.RouteDLQURLOutput(r.Route.Name):   s.id(r.DLQ),
			} {
				// A queue's Ref is its URL.
				if got := path(s.outputs[name], "Value"); !reflect.DeepEqual(got, ref(q)) {
					t.Errorf("%s = %v, want %v", name, got, ref(q))
				}
			}
		}
	})
}
