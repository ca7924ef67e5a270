package main

import (
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/topology"
)

// TestCommandLineOutputs: a full stack has the outputs of every route the
// command line knows (the framework's routes included), which
// `threefactor dlq --stack` reads; their values are checked with the
// event log's.
func TestCommandLineOutputs(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		for _, r := range fooddelivery.App.Topology().RoutesWithDefaults() {
			for _, name := range []string{topology.QueueOutput(r.Name), topology.DLQOutput(r.Name)} {
				if _, ok := s.outputs[name]; !ok {
					t.Errorf("no output %s", name)
				}
			}
		}
	})
}
