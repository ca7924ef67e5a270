package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/replay"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	os.Exit(code)
}

var shop = topology.Topology{
	App: "shop",
	Tables: []topology.Table{
		{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		{Name: "lines", PartitionKey: topology.Key{Name: "order", Type: topology.String}, SortKey: &topology.Key{Name: "n", Type: topology.Number}, Stream: true},
	},
	Functions: []topology.Function{{Name: "approve", Tables: []string{"orders"}}},
	Routes: []topology.Route{{Name: "paid", Function: "approve", Match: topology.Match{
		Table: "orders", Operations: []topology.Operation{topology.Modify},
		New: map[string]topology.Condition{"status": topology.Is("PAID")},
		Old: map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
	}}},
}

var base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// ev is a change at base+sec, with sequence number seq.
func ev(id, table string, op topology.Operation, keys, old, new string, seq, sec int) change.Event {
	e := change.Event{ID: id, Table: table, Operation: op, Keys: json.RawMessage(keys),
		SequenceNumber: fmt.Sprintf("1%020d", seq), ApproximateAt: base.Add(time.Duration(sec) * time.Second), CorrelationID: "req-" + id}
	if old != "" {
		e.Old = json.RawMessage(old)
	}
	if new != "" {
		e.New = json.RawMessage(new)
	}
	return e
}

// history is a small shop's log: o1 placed then paid; o2 placed then
// removed; o3 placed at sec 50; a line of o1 (number sort key, nested
// values).
func history() []change.Event {
	return []change.Event{
		ev("e1", "orders", topology.Insert, `{"id":"o1"}`, "", `{"id":"o1","status":"PLACED","total":12.50}`, 1, 1),
		ev("e2", "orders", topology.Insert, `{"id":"o2"}`, "", `{"id":"o2","status":"PLACED","total":3}`, 2, 2),
		ev("e3", "lines", topology.Insert, `{"order":"o1","n":1}`, "", `{"order":"o1","n":1,"sku":"pizza","opts":{"extra":["cheese"],"hot":true,"note":null}}`, 3, 3),
		ev("e4", "orders", topology.Modify, `{"id":"o1"}`, `{"id":"o1","status":"PLACED","total":12.50}`, `{"id":"o1","status":"PAID","total":12.50,"payments":[{"cents":1250}]}`, 4, 4),
		ev("e5", "orders", topology.Remove, `{"id":"o2"}`, `{"id":"o2","status":"PLACED","total":3}`, "", 5, 5),
		ev("e6", "orders", topology.Insert, `{"id":"o3"}`, "", `{"id":"o3","status":"PLACED","total":7}`, 6, 50),
	}
}

func openLog(t *testing.T, events []change.Event) *eventlog.FileStore {
	t.Helper()
	l, err := eventlog.OpenFileStore(t.TempDir(), eventlog.FileConfig{Topology: shop, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WriteChanges(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	return l
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var (
	run    = time.Now().UnixNano()
	tables atomic.Int64
)

// freshTables creates the app's tables under new names.
func freshTables(t *testing.T, cfg aws.Config) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, tb := range shop.Tables {
		name := fmt.Sprintf("replay-%d-%d-%s", run, tables.Add(1), tb.Name)
		if _, err := provision.EnsureTable(context.Background(), cfg, name, tb); err != nil {
			t.Fatal(err)
		}
		names[tb.Name] = name
	}
	return names
}

func TestRestoreWritesTheLoggedState(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	l := openLog(t, history())
	tables := freshTables(t, cfg)

	res, err := replay.Restore(ctx, l, db, replay.RestoreOptions{Topology: shop, Tables: tables, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes != 6 || res.Items != 3 || res.Removed != 1 || len(res.Reduced) != 0 {
		t.Fatalf("result %+v, want 6 changes, 3 items, 1 removed", res)
	}
	got, err := replay.DigestTables(ctx, db, tables)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(res.Expected) || got.Tables["orders"].Items != 2 || got.Tables["lines"].Items != 1 {
		t.Fatalf("digest %+v, want %+v with 2 orders and 1 line", got, res.Expected)
	}
	// Item for item: as logged, typed by the key schema, no marker left.
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables["lines"]), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"order": &types.AttributeValueMemberS{Value: "o1"}, "n": &types.AttributeValueMemberN{Value: "1"}}})
	if err != nil || out.Item == nil {
		t.Fatalf("line o1/1: %v", err)
	}
	opts := out.Item["opts"].(*types.AttributeValueMemberM).Value
	if _, marked := out.Item[change.RestoreAttribute]; marked || opts["hot"].(*types.AttributeValueMemberBOOL).Value != true ||
		opts["extra"].(*types.AttributeValueMemberL).Value[0].(*types.AttributeValueMemberS).Value != "cheese" {
		t.Fatalf("line o1/1 = %v", out.Item)
	}
	o1, _ := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables["orders"]), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o1"}}})
	if o1.Item["status"].(*types.AttributeValueMemberS).Value != "PAID" || o1.Item["total"].(*types.AttributeValueMemberN).Value != "12.50" {
		t.Fatalf("o1 = %v, want PAID as logged", o1.Item)
	}

	// Tables that are not empty are refused.
	_, err = replay.Restore(ctx, l, db, replay.RestoreOptions{Topology: shop, Tables: tables, Logger: quiet()})
	if errs.CodeOf(err) != errs.FailedPrecondition {
		t.Fatalf("restore into full tables: %v, want FAILED_PRECONDITION", err)
	}
}

// Until restores the state as of a time; an item whose latest change
// was logged without images is reported, not guessed.
func TestRestoreUntilAndReduced(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	h := history()
	big := ev("e7", "orders", topology.Modify, `{"id":"o3"}`, `{"id":"o3","status":"PLACED","total":7}`, `{"id":"o3","status":"PAID","total":7}`, 7, 60).Reduce()
	l := openLog(t, append(h, big))

	tables := freshTables(t, cfg)
	res, err := replay.Restore(ctx, l, db, replay.RestoreOptions{Topology: shop, Tables: tables, Until: base.Add(4 * time.Second), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	// As of sec 4 (exclusive): o1 PLACED, o2 PLACED, the line.
	if res.Changes != 3 || res.Items != 3 || res.Removed != 0 {
		t.Fatalf("until sec 4: %+v", res)
	}
	o1, _ := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables["orders"]), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o1"}}})
	if o1.Item["status"].(*types.AttributeValueMemberS).Value != "PLACED" {
		t.Fatalf("o1 as of sec 4 = %v", o1.Item)
	}

	tables2 := freshTables(t, cfg)
	res, err = replay.Restore(ctx, l, db, replay.RestoreOptions{Topology: shop, Tables: tables2, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Reduced, []string{"orders/o3"}) || res.Items != 2 {
		t.Fatalf("with a reduced latest change: %+v", res)
	}
}

// Redeliver sends the events the route matches, in the envelope its rule
// delivers, oldest first; Pending finds those a route has not finished.
func TestRedeliverAndPending(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	q := sqs.NewFromConfig(cfg)
	h := history()
	// o3 paid too, later.
	h = append(h, ev("e8", "orders", topology.Modify, `{"id":"o3"}`, `{"id":"o3","status":"PLACED","total":7}`, `{"id":"o3","status":"PAID","total":7}`, 8, 70))
	l := openLog(t, h)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("replay-%d", run))})
	if err != nil {
		t.Fatal(err)
	}

	res, err := replay.Redeliver(ctx, l, q, replay.RedeliverOptions{Topology: shop, Route: "paid", QueueURL: aws.ToString(queue.QueueUrl), Region: "us-east-1", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 6 || !slices.Equal(res.EventIDs, []string{"e4", "e8"}) {
		t.Fatalf("redelivered %+v, want e4 and e8 of 6 order changes", res)
	}
	var got []string
	for len(got) < 2 {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			e, err := change.FromEventBridge(aws.ToString(m.Body))
			if err != nil {
				t.Fatalf("redelivered body: %v", err)
			}
			if aws.ToString(m.MessageAttributes[replay.AttrRedelivered].StringValue) != e.ID || string(e.New) == "" || e.CorrelationID != "req-"+e.ID {
				t.Errorf("message %s: %+v", aws.ToString(m.Body), m.MessageAttributes)
			}
			got = append(got, e.ID)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"e4", "e8"}) {
		t.Fatalf("queue got %v", got)
	}

	// One item, one time window, a dry run.
	item, _ := eventlog.ParseItemKey(shop, "orders/o3")
	res, err = replay.Redeliver(ctx, l, q, replay.RedeliverOptions{Topology: shop, Route: "paid", Item: item, Since: base.Add(60 * time.Second), DryRun: true, Logger: quiet()})
	if err != nil || !slices.Equal(res.EventIDs, []string{"e8"}) {
		t.Fatalf("o3 since sec 60: %+v, %v", res, err)
	}
	if _, err := replay.Redeliver(ctx, l, q, replay.RedeliverOptions{Topology: shop, Route: topology.EventLogRoute, DryRun: true, Logger: quiet()}); errs.CodeOf(err) != errs.BadUserInput {
		t.Fatalf("redeliver to the framework's route: %v", err)
	}

	// e4 was handled, e8 retried and not yet done: e8 is pending.
	if err := l.WriteDeliveries(ctx,
		eventlog.Delivery{EventID: "e4", Route: "paid", Function: "approve", Attempt: 1, Outcome: eventlog.OK, MessageID: "m1", At: base.Add(5 * time.Second)},
		eventlog.Delivery{EventID: "e8", Route: "paid", Function: "approve", Attempt: 1, Outcome: eventlog.Retry, MessageID: "m2", At: base.Add(71 * time.Second)},
	); err != nil {
		t.Fatal(err)
	}
	pending, err := replay.Pending(ctx, l, shop, eventlog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || len(pending["paid"]) != 1 || pending["paid"][0].ID != "e8" {
		t.Fatalf("pending %+v, want e8 for paid", pending)
	}
}

func TestDigestComparesValues(t *testing.T) {
	item := func(total string, tags ...string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"id": &types.AttributeValueMemberS{Value: "o1"}, "total": &types.AttributeValueMemberN{Value: total},
			"tags": &types.AttributeValueMemberSS{Value: tags},
		}
	}
	d := func(items ...map[string]types.AttributeValue) replay.Digest {
		return replay.DigestOf(map[string][]map[string]types.AttributeValue{"orders": items})
	}
	if !d(item("1.50", "a", "b")).Equal(d(item("15e-1", "b", "a"))) {
		t.Error("equal values, spelled or ordered differently, digest differently")
	}
	if d(item("1.5", "a")).Equal(d(item("1.51", "a"))) {
		t.Error("different numbers digest the same")
	}
	list := item("1", "a")
	list["tags"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "a"}}}
	if d(item("1", "a")).Equal(d(list)) {
		t.Error("a set and a list digest the same")
	}
	if diff := d(item("1", "a")).Diff(d()); len(diff) != 1 || diff[0] != "orders (1 items / 0 items)" {
		t.Errorf("diff %v", diff)
	}
}
