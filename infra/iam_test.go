package main

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/topology"
)

// wildcardResourceAllowed lists the only actions that may have Resource
// "*", each because IAM offers no resource-level permission for it.
var wildcardResourceAllowed = map[string]string{
	"xray:PutTraceSegments":    "X-Ray defines no resource types; tracing requires Resource *",
	"xray:PutTelemetryRecords": "X-Ray defines no resource types; tracing requires Resource *",
	"dynamodb:ListStreams":     "ListStreams defines no resource type; stream event source mappings require it",
}

func TestIAMNoWildcards(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		policies := s.ofType("AWS::IAM::Policy")
		if len(policies) < len(fooddelivery.App.Lambdas()) {
			t.Fatalf("%d policies, want one per function at least", len(policies))
		}
		for id, p := range policies {
			for i, st := range asList(path(p.Properties, "PolicyDocument", "Statement")) {
				if path(st, "NotAction") != nil || path(st, "NotResource") != nil {
					t.Errorf("%s[%d]: NotAction/NotResource: %s", id, i, jsonString(st))
				}
				acts := actions(st)
				if len(acts) == 0 {
					t.Errorf("%s[%d]: no actions", id, i)
				}
				for _, a := range acts {
					if s, ok := a.(string); !ok || strings.Contains(s, "*") {
						t.Errorf("%s[%d]: wildcard action %v", id, i, a)
					}
				}
				for _, r := range resources(st) {
					if r != "*" {
						continue
					}
					for _, a := range acts {
						if _, ok := wildcardResourceAllowed[a.(string)]; !ok {
							t.Errorf("%s[%d]: %v on Resource * (not allow-listed)", id, i, a)
						}
					}
				}
			}
		}
		for id, r := range s.ofType("AWS::IAM::Role") {
			if r.Properties["ManagedPolicyArns"] != nil && !strings.HasPrefix(id, "RealtimeApiGatewayLogsRole") {
				t.Errorf("%s has managed policies %s; function roles get only grants", id, jsonString(r.Properties["ManagedPolicyArns"]))
			}
		}
	})
}

// TestIAMTableAccess: each function reaches exactly the tables it is
// declared to use, and the fan-out only reads the app's tables.
func TestIAMTableAccess(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		topo := fooddelivery.App.Topology()
		app := stack.AppTables(topo)
		with := func(names ...[]string) []string {
			var out []string
			for _, n := range names {
				out = append(out, n...)
			}
			return out
		}
		framework := []string{topology.ConnectionsTable, topology.SubscriptionsTable}
		cases := map[string]struct {
			fn     awslambda.Function
			tables []string
		}{
			"router":   {s.st.Pipeline.Router, topo.StreamTables()},
			"graphql":  {s.st.HTTP.Function, with(app, []string{topology.IdempotencyTable})},
			"realtime": {s.st.Realtime.Function, with(app, []string{topology.IdempotencyTable}, framework, []string{topology.EventLogTable})},
			"fanout":   {s.st.Realtime.FanOut, with(app, framework, []string{topology.EventLogTable})},
			"eventlog": {s.st.Pipeline.EventLog, []string{topology.EventLogTable}},
		}
		for _, f := range topo.Functions {
			cases[f.Name] = struct {
				fn     awslambda.Function
				tables []string
			}{s.st.Pipeline.Functions[f.Name], with(f.Tables, []string{topology.IdempotencyTable, topology.EventLogTable})}
		}
		tableOf := map[string]string{}
		for _, tb := range topo.AllTables() {
			tableOf[stack.LogicalTableID(tb.Name)] = tb.Name
		}
		writes := map[string]bool{"dynamodb:PutItem": true, "dynamodb:UpdateItem": true, "dynamodb:DeleteItem": true, "dynamodb:BatchWriteItem": true}
		for name, c := range cases {
			got := map[string]bool{}
			for _, st := range s.statementsOf(t, c.fn) {
				for _, r := range resources(st) {
					id, _ := path(r, "Fn::GetAtt", 0).(string)
					if id == "" {
						id, _ = path(r, "Fn::Join", 1, 0, "Fn::GetAtt", 0).(string)
					}
					tb, ok := tableOf[id]
					if !ok {
						continue
					}
					got[tb] = true
					if tb == topology.EventLogTable && topicLogOnly(st) {
						continue // the topic logs: realtime resume
					}
					if tb == topology.EventLogTable {
						// Writers of the log only write it.
						for _, a := range actions(st) {
							if !writes[a.(string)] && a != "dynamodb:DescribeTable" {
								t.Errorf("%s may %v on the event log; it only writes records", name, a)
							}
						}
					}
					if name == "fanout" && containsString(app, tb) {
						for _, a := range actions(st) {
							if writes[a.(string)] {
								t.Errorf("fanout may %v on app table %s; it only reads them", a, tb)
							}
						}
					}
				}
			}
			want := append([]string(nil), c.tables...)
			sort.Strings(want)
			if !reflect.DeepEqual(sortedKeys(got), dedup(want)) {
				t.Errorf("%s reaches tables %v, want %v", name, sortedKeys(got), dedup(want))
			}
		}
	})
}

// topicLogOnly reports whether a statement is limited to the event
// log's topic partitions (keys "T#...").
func topicLogOnly(st any) bool {
	keys, _ := path(st, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys").([]any)
	return len(keys) == 1 && keys[0] == "T#*"
}

func dedup(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func containsString(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}
