package provision_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func testTopology(app string) topology.Topology {
	return topology.Topology{
		App: app,
		Tables: []topology.Table{
			{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
			{
				Name: "lines", PartitionKey: topology.Key{Name: "orderId", Type: topology.String},
				SortKey:      &topology.Key{Name: "n", Type: topology.Number},
				Indexes:      []topology.Index{{Name: "bySku", PartitionKey: topology.Key{Name: "sku", Type: topology.String}}},
				TTLAttribute: "expiresAt",
			},
		},
		Functions: []topology.Function{
			{Name: "validate", Tables: []string{"orders", "lines"}, Timeout: 2 * time.Second, Env: map[string]string{"EXTRA": "1"}},
			{Name: "notify", Tables: []string{"orders"}},
		},
		Routes: []topology.Route{
			{Name: "placed", Function: "validate", MaxReceiveCount: 3, Match: topology.Match{
				Table: "orders", Operations: []topology.Operation{topology.Insert},
				New: map[string]topology.Condition{"status": topology.Is("PLACED")},
			}},
			{Name: "paid", Function: "notify", Match: topology.Match{
				Table: "orders", Operations: []topology.Operation{topology.Modify},
				New: map[string]topology.Condition{"status": topology.Is("PAID")},
				Old: map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
			}},
		},
	}
}

// checkMatches holds what exists against the declaration.
func checkMatches(t *testing.T, inv *provision.Inventory, res *provision.Resources, topo topology.Topology) {
	t.Helper()
	for _, tb := range topo.AllTables() {
		got, ok := inv.Tables[tb.Name]
		if !ok {
			t.Errorf("table %s missing", tb.Name)
			continue
		}
		if got.Name != topo.TableName(tb.Name) || got.PartitionKey != tb.PartitionKey {
			t.Errorf("table %s: name %s key %+v, want %s %+v", tb.Name, got.Name, got.PartitionKey, topo.TableName(tb.Name), tb.PartitionKey)
		}
		if (got.SortKey == nil) != (tb.SortKey == nil) || (got.SortKey != nil && *got.SortKey != *tb.SortKey) {
			t.Errorf("table %s: sort key %+v, want %+v", tb.Name, got.SortKey, tb.SortKey)
		}
		if got.BillingMode != "PAY_PER_REQUEST" {
			t.Errorf("table %s: billing %q", tb.Name, got.BillingMode)
		}
		wantStream := ""
		if tb.Stream {
			wantStream = "NEW_AND_OLD_IMAGES"
			if res.Tables[tb.Name].StreamARN == "" {
				t.Errorf("table %s: no stream ARN in resources", tb.Name)
			}
		}
		if got.StreamViewType != wantStream {
			t.Errorf("table %s: stream %q, want %q", tb.Name, got.StreamViewType, wantStream)
		}
		if got.TTLAttribute != tb.TTLAttribute {
			t.Errorf("table %s: ttl %q, want %q", tb.Name, got.TTLAttribute, tb.TTLAttribute)
		}
		if len(got.Indexes) != len(tb.Indexes) {
			t.Errorf("table %s: indexes %+v, want %+v", tb.Name, got.Indexes, tb.Indexes)
		}
		for i, ix := range tb.Indexes {
			if i < len(got.Indexes) && (got.Indexes[i].Name != ix.Name || got.Indexes[i].PartitionKey != ix.PartitionKey || got.Indexes[i].Projection != "ALL") {
				t.Errorf("table %s index %d: %+v, want %+v", tb.Name, i, got.Indexes[i], ix)
			}
		}
	}
	if inv.Bus.Name != topo.BusName() || inv.Bus.ARN == "" || inv.Bus.ARN != res.Bus.ARN {
		t.Errorf("bus %+v, resources %+v", inv.Bus, res.Bus)
	}
	if len(inv.Routes) != len(topo.Routes)+1 || inv.Routes[topology.EventLogRoute].Pattern == "" {
		t.Errorf("%d routes, want %d and the event log's", len(inv.Routes), len(topo.Routes))
	}
	for _, r := range topo.RoutesWithDefaults() {
		got := inv.Routes[r.Name]
		if got.Pattern != topo.EventPatternJSON(r) {
			t.Errorf("route %s: pattern\n got %s\nwant %s", r.Name, got.Pattern, topo.EventPatternJSON(r))
		}
		if got.State != "ENABLED" {
			t.Errorf("route %s: state %q", r.Name, got.State)
		}
		rr := res.Routes[r.Name]
		if len(got.Targets) != 1 || got.Targets[0] != rr.QueueARN || rr.QueueARN == "" {
			t.Errorf("route %s: targets %v, want [%s]", r.Name, got.Targets, rr.QueueARN)
		}
		if got.TargetInputTemplate != provision.TargetInputTemplate || got.TargetInputPaths[provision.TargetInputPathKey] != provision.TargetInputPath {
			t.Errorf("route %s: target input %q %v", r.Name, got.TargetInputTemplate, got.TargetInputPaths)
		}
		if got.MaxReceiveCount != r.MaxReceiveCount || got.DeadLetterTargetARN != rr.DLQARN || got.DLQARN != rr.DLQARN {
			t.Errorf("route %s: redrive %d -> %s (dlq %s), want %d -> %s", r.Name, got.MaxReceiveCount, got.DeadLetterTargetARN, got.DLQARN, r.MaxReceiveCount, rr.DLQARN)
		}
		if got.VisibilityTimeout != r.VisibilityTimeout {
			t.Errorf("route %s: visibility %s, want %s", r.Name, got.VisibilityTimeout, r.VisibilityTimeout)
		}
		if !got.PolicyAllowsEvents {
			t.Errorf("route %s: queue policy does not let EventBridge send", r.Name)
		}
		if got.DLQRetention != provision.DLQRetention {
			t.Errorf("route %s: dlq retention %s", r.Name, got.DLQRetention)
		}
	}
}

func TestApplyIsIdempotentAndMatchesTopology(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := testTopology("provtest")

	first, err := provision.Apply(ctx, cfg, topo)
	if err != nil {
		t.Fatal(err)
	}
	// Data written between runs must survive a second run.
	ddb := dynamodb.NewFromConfig(cfg)
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(first.Tables["orders"].Name),
		Item:      map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "o1"}},
	}); err != nil {
		t.Fatal(err)
	}
	second, err := provision.Apply(ctx, cfg, topo)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for name, r := range first.Routes {
		if second.Routes[name] != r {
			t.Errorf("route %s changed between runs: %+v -> %+v", name, r, second.Routes[name])
		}
	}
	if first.Tables["orders"] != second.Tables["orders"] {
		t.Errorf("orders table changed: %+v -> %+v", first.Tables["orders"], second.Tables["orders"])
	}
	got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(second.Tables["orders"].Name),
		Key:       map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "o1"}},
	})
	if err != nil || got.Item == nil {
		t.Fatalf("item lost after re-provisioning: %v %v", got, err)
	}
	inv, err := provision.Describe(ctx, cfg, topo)
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, inv, second, topo)
}

func TestApplyUpdatesChangedRoutes(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := testTopology("provupd")
	if _, err := provision.Apply(ctx, cfg, topo); err != nil {
		t.Fatal(err)
	}
	// The declaration changes: a pattern, a receive count, a longer timeout,
	// and one route is dropped.
	topo.Routes[0].Match.New = map[string]topology.Condition{"status": topology.Is("PLACED", "RESUBMITTED")}
	topo.Routes[0].MaxReceiveCount = 7
	topo.Functions[0].Timeout = 5 * time.Second
	dropped := topo.Routes[1].Name
	topo.Routes = topo.Routes[:1]
	res, err := provision.Apply(ctx, cfg, topo)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := provision.Describe(ctx, cfg, topo)
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, inv, res, topo)
	if got := inv.Routes[topo.Routes[0].Name].VisibilityTimeout; got != 30*time.Second {
		t.Errorf("visibility %s, want 30s (6 x 5s)", got)
	}
	old := testTopology("provupd")
	invOld, err := provision.Describe(ctx, cfg, old)
	if err != nil {
		t.Fatal(err)
	}
	if r := invOld.Routes[dropped]; r.Pattern != "" {
		t.Errorf("rule of dropped route %s still exists: %+v", dropped, r)
	}
}

func TestEnv(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := testTopology("provenv")
	// validate is fed by two routes: it gets the queue and dead-letter
	// queue of each.
	topo.Routes = append(topo.Routes, topology.Route{Name: "repriced", Function: "validate", Match: topology.Match{
		Table: "orders", Operations: []topology.Operation{topology.Modify}, Changed: []string{"total"},
	}})
	res, err := provision.Apply(ctx, cfg, topo)
	if err != nil {
		t.Fatal(err)
	}
	env := res.Env("validate")
	want := map[string]string{
		"TABLE_ORDERS":             "provenv-orders",
		"TABLE_LINES":              "provenv-lines",
		"TABLE_IDEMPOTENCY":        "provenv-idempotency",
		"TABLE_CONNECTIONS":        "provenv-connections",
		"TABLE_SUBSCRIPTIONS":      "provenv-subscriptions",
		"TABLE_EVENTLOG":           "provenv-eventlog",
		"EVENT_BUS_NAME":           "provenv-bus",
		"ROUTE_PLACED_QUEUE_ARN":   res.Routes["placed"].QueueARN,
		"ROUTE_PLACED_DLQ_URL":     res.Routes["placed"].DLQURL,
		"ROUTE_REPRICED_QUEUE_ARN": res.Routes["repriced"].QueueARN,
		"ROUTE_REPRICED_DLQ_URL":   res.Routes["repriced"].DLQURL,
		"STAGE":                    "dev",
		"EXTRA":                    "1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if len(env) != len(want) {
		t.Errorf("env %v has extra variables", env)
	}
	for _, r := range []string{"placed", "repriced"} {
		if got := res.Routes[r]; !strings.HasPrefix(got.QueueARN, "arn:aws:sqs:") || !strings.HasSuffix(got.QueueARN, ":provenv-"+r) ||
			!strings.HasSuffix(got.DLQURL, "/provenv-"+r+"-dlq") {
			t.Errorf("route %s: queue %s, dead-letter queue %s", r, got.QueueARN, got.DLQURL)
		}
	}
	// The framework's event log function gets its route's queues and
	// its table.
	logEnv := res.Env(topology.EventLogFunction)
	if logEnv["ROUTE_EVENTLOG_QUEUE_ARN"] != res.Routes[topology.EventLogRoute].QueueARN || logEnv["ROUTE_EVENTLOG_DLQ_URL"] == "" ||
		logEnv["TABLE_EVENTLOG"] != "provenv-eventlog" || logEnv["TABLE_ORDERS"] != "" {
		t.Errorf("eventlog env %v", logEnv)
	}
	if _, ok := res.Env("notify")["ROUTE_PLACED_DLQ_URL"]; ok {
		t.Errorf("notify got the dead-letter queue of a route that does not feed it")
	}
	if _, ok := res.Env("notify")["TABLE_LINES"]; ok {
		t.Errorf("notify got a table it does not declare")
	}
}
