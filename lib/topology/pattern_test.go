package topology

import (
	"strings"
	"testing"
	"time"
)

// EventBridge's content filters, case by case (the semantics of
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html).
func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		name, pattern, event string
		want                 bool
	}{
		{"value", `{"a":["x"]}`, `{"a":"x"}`, true},
		{"other value", `{"a":["x"]}`, `{"a":"y"}`, false},
		{"one of values", `{"a":["x","y"]}`, `{"a":"y"}`, true},
		{"missing field", `{"a":["x"]}`, `{}`, false},
		{"number by value", `{"n":[300]}`, `{"n":3.0e2}`, true},
		{"number is not a string", `{"n":[5]}`, `{"n":"5"}`, false},
		{"boolean", `{"b":[true]}`, `{"b":true}`, true},
		{"null", `{"z":[null]}`, `{"z":null}`, true},
		{"null is not missing", `{"z":[null]}`, `{}`, false},
		{"array intersects", `{"changed":["status"]}`, `{"changed":["total","status"]}`, true},
		{"array misses", `{"changed":["status"]}`, `{"changed":["total"]}`, false},
		{"nested", `{"detail":{"new":{"s":["PAID"]}}}`, `{"detail":{"new":{"s":"PAID"}}}`, true},
		{"nested missing object", `{"detail":{"new":{"s":["PAID"]}}}`, `{"detail":{}}`, false},
		{"leaf pattern on object", `{"a":["x"]}`, `{"a":{"b":"x"}}`, false},
		{"prefix", `{"a":[{"prefix":"ord_"}]}`, `{"a":"ord_1"}`, true},
		{"prefix misses", `{"a":[{"prefix":"ord_"}]}`, `{"a":"x_ord_1"}`, false},
		{"prefix ignoring case", `{"a":[{"prefix":{"equals-ignore-case":"ORD"}}]}`, `{"a":"ord_1"}`, true},
		{"suffix", `{"a":[{"suffix":".png"}]}`, `{"a":"x.png"}`, true},
		{"equals-ignore-case", `{"a":[{"equals-ignore-case":"PaId"}]}`, `{"a":"PAID"}`, true},
		{"anything-but", `{"a":[{"anything-but":["PAID"]}]}`, `{"a":"VALIDATED"}`, true},
		{"anything-but the value", `{"a":[{"anything-but":["PAID"]}]}`, `{"a":"PAID"}`, false},
		{"anything-but needs the field", `{"a":[{"anything-but":["PAID"]}]}`, `{}`, false},
		{"anything-but a number", `{"a":[{"anything-but":5}]}`, `{"a":5.0}`, false},
		{"anything-but a prefix", `{"a":[{"anything-but":{"prefix":"x"}}]}`, `{"a":"yes"}`, true},
		{"exists", `{"a":[{"exists":true}]}`, `{"a":"x"}`, true},
		{"exists missing", `{"a":[{"exists":true}]}`, `{}`, false},
		{"not exists", `{"a":[{"exists":false}]}`, `{}`, true},
		{"not exists under a missing object", `{"new":{"a":[{"exists":false}]}}`, `{}`, true},
		{"not exists but there", `{"a":[{"exists":false}]}`, `{"a":null}`, false},
		{"numeric range", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":5}`, true},
		{"numeric out of range", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":5.5}`, false},
		{"numeric on a string", `{"n":[{"numeric":[">",0]}]}`, `{"n":"7"}`, false},
		{"wildcard", `{"a":[{"wildcard":"ord_*_x"}]}`, `{"a":"ord_12_x"}`, true},
		{"wildcard misses", `{"a":[{"wildcard":"ord_*_x"}]}`, `{"a":"ord_12_y"}`, false},
		{"or", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"b":"y"}`, true},
		{"and of fields", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"z"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MatchPattern([]byte(tc.pattern), []byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s on %s = %v, want %v", tc.pattern, tc.event, got, tc.want)
			}
		})
	}
}

func TestMatchPatternRefusesWhatItCannotMatch(t *testing.T) {
	for _, p := range []string{`{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"n":[{"numeric":[">"]}]}`, `{"a":"x"}`, `{"a":[{"prefix":"x","suffix":"y"}]}`} {
		if _, err := MatchPattern([]byte(p), []byte(`{"ip":"10.0.0.1","n":1,"a":"x"}`)); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

// A route's pattern, as provisioned, selects the change events its rule
// delivers; the framework's event log route selects all of them.
func TestTopologyMatches(t *testing.T) {
	topo := Topology{
		App:       "shop",
		Tables:    []Table{{Name: "orders", PartitionKey: Key{"id", String}, Stream: true}},
		Functions: []Function{{Name: "approve", Timeout: time.Second}},
		Routes: []Route{{Name: "paid", Function: "approve", Match: Match{
			Table: "orders", Operations: []Operation{Modify},
			New:     map[string]Condition{"status": Is("PAID")},
			Old:     map[string]Condition{"status": AnythingBut("PAID")},
			Changed: []string{"status"},
		}}},
	}
	paid, _ := topo.Route("paid")
	logRoute, ok := topo.Route(EventLogRoute)
	if !ok {
		t.Fatal("no eventlog route")
	}
	for _, tc := range []struct {
		detail       string
		paid, logged bool
	}{
		{`{"id":"1","table":"orders","operation":"MODIFY","keys":{"id":"o"},"old":{"status":"VALIDATED"},"new":{"status":"PAID"},"changed":["status"]}`, true, true},
		{`{"id":"2","table":"orders","operation":"MODIFY","keys":{"id":"o"},"old":{"status":"PAID"},"new":{"status":"PAID"},"changed":["note"]}`, false, true},
		{`{"id":"3","table":"orders","operation":"INSERT","keys":{"id":"o"},"new":{"status":"PAID"}}`, false, true},
		{`{"id":"4","table":"lines","operation":"MODIFY","keys":{"id":"o"},"old":{"status":"X"},"new":{"status":"PAID"},"changed":["status"]}`, false, true},
	} {
		got, err := topo.Matches(paid, []byte(tc.detail))
		if err != nil || got != tc.paid {
			t.Errorf("paid on %s = %v, %v; want %v", tc.detail, got, err, tc.paid)
		}
		got, err = topo.Matches(logRoute, []byte(tc.detail))
		if err != nil || got != tc.logged {
			t.Errorf("eventlog on %s = %v, %v; want %v", tc.detail, got, err, tc.logged)
		}
	}
}

func TestFrameworkRoute(t *testing.T) {
	topo := Topology{
		App:       "shop",
		Tables:    []Table{{Name: "orders", PartitionKey: Key{"id", String}, Stream: true}},
		Functions: []Function{{Name: "approve", Timeout: time.Second}},
		Routes:    []Route{{Name: "paid", Function: "approve", Match: Match{Table: "orders"}}},
	}
	routes := topo.RoutesWithDefaults()
	if len(routes) != 2 || routes[0].Name != "paid" || routes[1].Name != EventLogRoute {
		t.Fatalf("routes %+v, want paid then eventlog", routes)
	}
	r := routes[1]
	if r.Function != EventLogFunction || r.MaxReceiveCount != EventLogMaxReceiveCount || r.VisibilityTimeout != 3*time.Minute || !r.IsFrameworkRoute() {
		t.Errorf("eventlog route %+v", r)
	}
	if got := topo.EventPatternJSON(r); got != `{"detail-type":["Change"],"source":["shop.changes"]}` {
		t.Errorf("eventlog pattern %s", got)
	}
	f, ok := topo.Function(EventLogFunction)
	if !ok || len(f.Tables) != 1 || f.Tables[0] != EventLogTable {
		t.Errorf("eventlog function %+v, %v", f, ok)
	}
	if rs := topo.RoutesOf(EventLogFunction); len(rs) != 1 || rs[0].Name != EventLogRoute {
		t.Errorf("RoutesOf(eventlog) = %+v", rs)
	}
	if got := strings.Join(topo.Lambdas(), ","); got != "approve,eventlog,fanout,graphql,pushworker,realtime,router" {
		t.Errorf("Lambdas = %s", got)
	}

	off := topo
	off.DisableEventLog = true
	if len(off.RoutesWithDefaults()) != 1 || len(off.FrameworkRoutes()) != 0 {
		t.Errorf("disabled log still has routes %+v", off.RoutesWithDefaults())
	}
	if _, ok := off.Function(EventLogFunction); ok {
		t.Error("disabled log still has its function")
	}
	if got := strings.Join(off.Lambdas(), ","); got != "approve,fanout,graphql,pushworker,realtime,router" {
		t.Errorf("Lambdas without the log = %s", got)
	}

	clash := topo
	clash.Routes = append(clash.Routes, Route{Name: EventLogRoute, Function: "approve", Match: Match{Table: "orders"}})
	clash.Functions = append(clash.Functions, Function{Name: EventLogFunction})
	err := clash.Validate()
	if err == nil || !strings.Contains(err.Error(), `route "eventlog": the name belongs`) || !strings.Contains(err.Error(), `function "eventlog": the name belongs`) {
		t.Errorf("Validate = %v, want both names refused", err)
	}
}
