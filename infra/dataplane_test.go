package main

import (
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
)

// TestDataPlaneStack: the LocalStack stack holds only what the dev runtime
// provisions, under the same physical names, so `make dev` against it
// finds its tables, bus, rules and queues.
func TestDataPlaneStack(t *testing.T) {
	s := synthesize(t)[dataPlane]
	topo := fooddelivery.App.Topology()
	allowed := map[string]bool{
		"AWS::DynamoDB::Table": true, "AWS::Events::EventBus": true, "AWS::Events::Rule": true,
		"AWS::SQS::Queue": true, "AWS::SQS::QueuePolicy": true,
	}
	for id, r := range s.resources {
		if !allowed[r.Type] {
			t.Errorf("%s: %s in the data plane", id, r.Type)
		}
	}
	for _, tb := range topo.AllTables() {
		r := s.resources[stack.LogicalTableID(tb.Name)]
		if r.Properties["TableName"] != topo.TableName(tb.Name) {
			t.Errorf("table %s named %v, want %s", tb.Name, r.Properties["TableName"], topo.TableName(tb.Name))
		}
	}
	if got := s.res(t, s.st.Pipeline.Bus, "AWS::Events::EventBus").Properties["Name"]; got != topo.BusName() {
		t.Errorf("bus named %v, want %s", got, topo.BusName())
	}
	if len(s.st.Pipeline.Routes) != len(topo.RoutesWithDefaults()) {
		t.Fatalf("%d routes, want %d", len(s.st.Pipeline.Routes), len(topo.RoutesWithDefaults()))
	}
	for _, pr := range s.st.Pipeline.Routes {
		name := pr.Route.Name
		checks := []struct {
			what, got, want string
		}{
			{"rule", str(s.res(t, pr.Rule, "AWS::Events::Rule").Properties["Name"]), topo.RuleName(name)},
			{"queue", str(s.res(t, pr.Queue, "AWS::SQS::Queue").Properties["QueueName"]), topo.QueueName(name)},
			{"dlq", str(s.res(t, pr.DLQ, "AWS::SQS::Queue").Properties["QueueName"]), topo.DLQName(name)},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("route %s: %s named %q, want %q", name, c.what, c.got, c.want)
			}
		}
		if pr.Function != nil {
			t.Errorf("route %s has a function in the data plane", name)
		}
	}
	if len(s.outputs) != 1 || s.outputs[stack.OutputEventBusName] == nil {
		t.Errorf("outputs %v, want only %s", sortedKeys(s.outputs), stack.OutputEventBusName)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
