package topology_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/topology"
)

func sample() topology.Topology {
	return topology.Topology{
		App: "shop",
		Tables: []topology.Table{
			{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
			{Name: "menus", PartitionKey: topology.Key{Name: "id", Type: topology.String}},
		},
		Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}, Timeout: 20 * time.Second}},
		Routes: []topology.Route{{
			Name: "ship-paid", Function: "ship",
			Match: topology.Match{
				Table:      "orders",
				Operations: []topology.Operation{topology.Modify},
				New:        map[string]topology.Condition{"status": topology.Is("PAID")},
				Old:        map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
				Changed:    []string{"status"},
			},
		}},
	}
}

func TestEventPatternMatchesEventBridgeSyntax(t *testing.T) {
	tp := sample()
	got := tp.EventPatternJSON(tp.Routes[0])
	want := `{"detail":{"changed":["status"],"new":{"status":["PAID"]},"old":{"status":[{"anything-but":["PAID"]}]},"operation":["MODIFY"],"table":["orders"]},"detail-type":["Change"],"source":["shop.changes"]}`
	if got != want {
		t.Fatalf("pattern\n got %s\nwant %s", got, want)
	}
}

func TestConditions(t *testing.T) {
	for _, tc := range []struct {
		c    topology.Condition
		want string
	}{
		{topology.Is("A", "B"), `["A","B"]`},
		{topology.Is(5), `[5]`},
		{topology.AnythingBut("X"), `[{"anything-but":["X"]}]`},
		{topology.Prefix("ord-"), `[{"prefix":"ord-"}]`},
		{topology.Exists(false), `[{"exists":false}]`},
	} {
		b, _ := json.Marshal(tc.c)
		if string(b) != tc.want {
			t.Errorf("got %s want %s", b, tc.want)
		}
	}
}

func TestRouteDefaults(t *testing.T) {
	tp := sample()
	r, ok := tp.Route("ship-paid")
	if !ok {
		t.Fatal("route not found")
	}
	if r.BatchSize != 10 || r.MaxReceiveCount != 5 {
		t.Fatalf("defaults: batch %d, receives %d", r.BatchSize, r.MaxReceiveCount)
	}
	if r.VisibilityTimeout != 2*time.Minute {
		t.Fatalf("visibility %s, want 6 x 20s", r.VisibilityTimeout)
	}
	tp.Routes[0].VisibilityTimeout = time.Minute
	if r, _ := tp.Route("ship-paid"); r.VisibilityTimeout != 2*time.Minute {
		t.Fatalf("visibility below 6x the timeout was kept: %s", r.VisibilityTimeout)
	}
}

func TestValidate(t *testing.T) {
	if err := sample().Validate(); err != nil {
		t.Fatalf("valid topology: %v", err)
	}
	fast := sample()
	fast.Tables = append([]topology.Table(nil), fast.Tables...)
	fast.Tables[0].ParallelizationFactor = 10
	if err := fast.Validate(); err != nil {
		t.Fatalf("parallelization factor 10: %v", err)
	}
	if got := fast.Tables[0].StreamParallelization(); got != 10 {
		t.Errorf("StreamParallelization = %d, want 10", got)
	}
	if got := fast.Tables[1].StreamParallelization(); got != 1 {
		t.Errorf("default StreamParallelization = %d, want 1", got)
	}
	for name, tc := range map[string]struct {
		mutate func(*topology.Topology)
		want   string
	}{
		"bad app":          {func(t *topology.Topology) { t.App = "Shop!" }, "app name"},
		"unknown function": {func(t *topology.Topology) { t.Routes[0].Function = "nope" }, `unknown function "nope"`},
		"unknown table":    {func(t *topology.Topology) { t.Routes[0].Match.Table = "nope" }, `unknown table "nope"`},
		"no stream":        {func(t *topology.Topology) { t.Routes[0].Match.Table = "menus" }, "has no stream"},
		"bad op":           {func(t *topology.Topology) { t.Routes[0].Match.Operations = []topology.Operation{"UPSERT"} }, `operation "UPSERT"`},
		"batch":            {func(t *topology.Topology) { t.Routes[0].BatchSize = 11 }, "batch size 11"},
		"dup table": {func(t *topology.Topology) {
			t.Tables = append(t.Tables, topology.Table{Name: "idempotency", PartitionKey: topology.Key{Name: "k"}})
		}, "declared twice"},
		"function table":                 {func(t *topology.Topology) { t.Functions[0].Tables = []string{"x"} }, `unknown table "x"`},
		"parallelization":                {func(t *topology.Topology) { t.Tables[0].ParallelizationFactor = 11 }, "parallelization factor 11 outside 1..10"},
		"parallelization without stream": {func(t *topology.Topology) { t.Tables[1].ParallelizationFactor = 2 }, "parallelization factor 2 without a stream"},
	} {
		t.Run(name, func(t *testing.T) {
			tp := sample()
			tp.Tables = append([]topology.Table(nil), tp.Tables...)
			tp.Routes = append([]topology.Route(nil), tp.Routes...)
			tp.Functions = append([]topology.Function(nil), tp.Functions...)
			tc.mutate(&tp)
			err := tp.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNamesAndEnv(t *testing.T) {
	tp := sample()
	if got := tp.QueueName("ship-paid"); got != "shop-ship-paid" {
		t.Fatal(got)
	}
	if got := tp.DLQName("ship-paid"); got != "shop-ship-paid-dlq" {
		t.Fatal(got)
	}
	if got := topology.TableEnv("order-lines"); got != "TABLE_ORDER_LINES" {
		t.Fatal(got)
	}
	if got := topology.RouteQueueARNEnv("ship-paid"); got != "ROUTE_SHIP_PAID_QUEUE_ARN" {
		t.Fatal(got)
	}
	if got := topology.RouteDLQURLEnv("ship-paid"); got != "ROUTE_SHIP_PAID_DLQ_URL" {
		t.Fatal(got)
	}
	if got := tp.StreamTables(); len(got) != 1 || got[0] != "orders" {
		t.Fatal(got)
	}
	if _, ok := tp.Table(topology.SubscriptionsTable); !ok {
		t.Fatal("framework tables are part of AllTables")
	}
}

func TestRoutesOf(t *testing.T) {
	tp := sample()
	tp.Functions = append(tp.Functions, topology.Function{Name: "audit"})
	tp.Routes = append(tp.Routes,
		topology.Route{Name: "audit-all", Function: "audit", Match: topology.Match{Table: "orders"}},
		topology.Route{Name: "ship-new", Function: "ship", BatchSize: 3, Match: topology.Match{Table: "orders"}},
	)
	got := tp.RoutesOf("ship")
	if len(got) != 2 || got[0].Name != "ship-paid" || got[1].Name != "ship-new" {
		t.Fatalf("RoutesOf(ship) = %+v", got)
	}
	if got[0].BatchSize != 10 || got[1].BatchSize != 3 || got[0].VisibilityTimeout != 2*time.Minute {
		t.Errorf("defaults not applied: %+v", got)
	}
	if got := tp.RoutesOf("nosuch"); len(got) != 0 {
		t.Errorf("RoutesOf(nosuch) = %+v", got)
	}
}
