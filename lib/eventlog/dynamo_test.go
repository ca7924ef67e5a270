package eventlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/eventlog/eventlogtest"
	"github.com/threefactor/framework/lib/topology"
)

// TestDynamoTableShape: the table provisioned from the framework's
// declaration has the indexes the store queries and TTL on expiresAt.
func TestDynamoTableShape(t *testing.T) {
	db, table := newTable(t)
	ctx := context.Background()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range out.Table.GlobalSecondaryIndexes {
		names = append(names, aws.ToString(g.IndexName))
	}
	slices.Sort(names)
	if want := []string{topology.EventLogByCorrelation, topology.EventLogByItem, topology.EventLogByTime}; !slices.Equal(names, want) {
		t.Fatalf("indexes %v, want %v", names, want)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expiresAt" {
		t.Fatalf("TTL %s on %q, want ENABLED on expiresAt", d.TimeToLiveStatus, aws.ToString(d.AttributeName))
	}
}

func rawItem(t *testing.T, db *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		t.Fatalf("no item %s/%s", pk, sk)
	}
	return out.Item
}

func attrS(item map[string]types.AttributeValue, name string) string {
	v, _ := item[name].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

// TestDynamoItems: what a change looks like in the table: index keys with
// the sequence number at a fixed width, the expiry in the TTL attribute,
// large records compressed.
func TestDynamoItems(t *testing.T) {
	db, table := newTable(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := eventlogtest.NewClock(at.Add(time.Minute))
	st := dynamoStore(t, db, table, eventlogtest.Settings{Topology: eventlogtest.Topology, Retention: 48 * time.Hour, Now: clock.Now})
	small := eventlogtest.Order("ev-small", "ord_1", "123456789012345678901", at, "req-1")
	small.Operation, small.Old, small.New, small.Changed = topology.Remove, nil, nil, nil // keys only
	big := eventlogtest.Order("ev-big", "ord_1", "123456789012345678902", at, "req-1")
	big.New = json.RawMessage(`{"id":"ord_1","notes":"` + strings.Repeat("all work and no play ", 500) + `"}`)
	if err := st.WriteChanges(ctx, small, big); err != nil {
		t.Fatal(err)
	}
	item := rawItem(t, db, table, "E#ev-small", "change")
	if got, want := attrS(item, "itemSeq"), "0000000000000000000123456789012345678901#ev-small"; got != want {
		t.Fatalf("itemSeq %q, want %q", got, want)
	}
	if got := attrS(item, "item"); got != "orders/ord_1" {
		t.Fatalf("item %q", got)
	}
	if got := attrS(item, "bucket"); !strings.HasPrefix(got, "2026-03-04#") {
		t.Fatalf("bucket %q, want the change's day and a shard", got)
	}
	if got := attrS(item, "correlationId"); got != "req-1" {
		t.Fatalf("correlationId %q", got)
	}
	exp, _ := item["expiresAt"].(*types.AttributeValueMemberN)
	if exp == nil || exp.Value != strconv.FormatInt(at.Add(48*time.Hour).Unix()+1, 10) {
		t.Fatalf("expiresAt %v, want the change's time plus the retention", item["expiresAt"])
	}
	if _, ok := item["data"].(*types.AttributeValueMemberS); !ok {
		t.Fatalf("a small record is stored as JSON text: %T", item["data"])
	}
	bigItem := rawItem(t, db, table, "E#ev-big", "change")
	z, ok := bigItem["dataz"].(*types.AttributeValueMemberB)
	if !ok || len(z.Value) > len(big.New)/4 {
		t.Fatalf("a %d-byte record is stored compressed: got %T", len(big.New), bigItem["dataz"])
	}
	rec, err := st.Event(ctx, "ev-big")
	if err != nil || string(rec.Change.New) != string(big.New) {
		t.Fatalf("compressed record read back: %v", err)
	}
}

// TestDynamoLongKeys: keys past DynamoDB's key size limits are indexed by
// their hash and still found.
func TestDynamoLongKeys(t *testing.T) {
	db, table := newTable(t)
	ctx := context.Background()
	st := dynamoStore(t, db, table, eventlogtest.Settings{Topology: eventlogtest.Topology})
	long := strings.Repeat("k", 1500)
	corr := strings.Repeat("c", 1500)
	e1 := eventlogtest.Order("ev-1", long, eventlogtest.Seq(1), time.Now(), corr)
	e2 := eventlogtest.Order("ev-2", long+"x", eventlogtest.Seq(2), time.Now(), corr+"x")
	if err := st.WriteChanges(ctx, e1, e2); err != nil {
		t.Fatal(err)
	}
	h, err := st.ItemHistory(ctx, eventlog.ItemKey{Table: "orders", Partition: long})
	if err != nil || len(h) != 1 || h[0].ID != "ev-1" {
		t.Fatalf("history of a long key: %d changes, %v", len(h), err)
	}
	tr, err := st.Trace(ctx, corr)
	if err != nil || len(tr) != 1 || tr[0].Change.ID != "ev-1" {
		t.Fatalf("trace of a long correlation id: %d entries, %v", len(tr), err)
	}
	if err := st.WriteDeliveries(ctx, eventlog.Delivery{EventID: "ev-1", Route: strings.Repeat("r", 500), Function: "f", MessageID: strings.Repeat("m", 500), Attempt: 1, Outcome: eventlog.OK}); err != nil {
		t.Fatalf("delivery with long names: %v", err)
	}
	if rec, err := st.Event(ctx, "ev-1"); err != nil || len(rec.Deliveries) != 1 {
		t.Fatalf("event: %+v, %v", rec, err)
	}
}

func TestDynamoConfig(t *testing.T) {
	env := map[string]string{"TABLE_EVENTLOG": "app-eventlog", eventlog.EnvRetention: "14d"}
	cfg, err := eventlog.DynamoConfigFromEnv(func(k string) string { return env[k] }, eventlogtest.Topology)
	if err != nil || cfg.Table != "app-eventlog" || cfg.Retention != 14*24*time.Hour {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	_, err = eventlog.DynamoConfigFromEnv(func(string) string { return "" }, eventlogtest.Topology)
	if err == nil || !strings.Contains(err.Error(), "TABLE_EVENTLOG is not set") {
		t.Fatalf("missing table: %v", err)
	}
	if _, err := eventlog.NewDynamoStore(nil, eventlog.DynamoConfig{Table: "x", TimeShards: 100}); err == nil {
		t.Fatal("100 time shards accepted")
	}
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "90m": 90 * time.Minute, "0d": 0} {
		if got, err := eventlog.ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1h", "5000d", "1.5d"} {
		if _, err := eventlog.ParseRetention(in); errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("ParseRetention(%q): %v, want %s", in, err, errs.BadUserInput)
		}
	}
}

// gatedDB holds the first transaction until the gate opens and counts
// transactions and the events (markers) they carry.
type gatedDB struct {
	*dynamodb.Client
	gate         chan struct{}
	first        sync.Once
	transactions atomic.Int32
	largest      atomic.Int32
}

func (g *gatedDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	g.first.Do(func() { <-g.gate })
	g.transactions.Add(1)
	n := int32(len(in.TransactItems)-1) / 2
	for {
		if l := g.largest.Load(); n <= l || g.largest.CompareAndSwap(l, n) {
			break
		}
	}
	return g.Client.TransactWriteItems(ctx, in, opts...)
}

// TestDynamoGroupCommit: appends to one topic made while a transaction
// for it is in flight are written together by the next ones, at most 49
// events a transaction (DynamoDB's 100 items), and every event gets its
// own position with no gap.
func TestDynamoGroupCommit(t *testing.T) {
	db, table := newTable(t)
	g := &gatedDB{Client: db, gate: make(chan struct{})}
	st, err := eventlog.NewDynamoStore(g, eventlog.DynamoConfig{Table: table, Topology: eventlogtest.Topology})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const appends = 120
	var (
		wg  sync.WaitGroup
		pos = make([]eventlog.Position, appends)
		ers = make([]error, appends)
	)
	for i := range appends {
		wg.Go(func() {
			e := eventlogtest.Order(fmt.Sprintf("ev-%03d", i), fmt.Sprintf("ord_%d", i), eventlogtest.Seq(i), time.Now(), "")
			pos[i], ers[i] = st.Append(ctx, "restaurant:busy", e)
		})
	}
	// The first transaction is held while the other appends arrive.
	time.Sleep(200 * time.Millisecond)
	close(g.gate)
	wg.Wait()
	seen := map[eventlog.Position]bool{}
	for i := range appends {
		if ers[i] != nil {
			t.Fatalf("append %d: %v", i, ers[i])
		}
		seen[pos[i]] = true
	}
	sorted := slices.Sorted(maps.Keys(seen))
	if len(sorted) != appends || sorted[appends-1]-sorted[0] != appends-1 {
		t.Fatalf("positions %v: want %d distinct, with no gap", sorted, appends)
	}
	t.Logf("%d appends in %d transactions, the largest of %d events", appends, g.transactions.Load(), g.largest.Load())
	// The held one, then the other 119 in ceil(119/49) = 3.
	if n := g.transactions.Load(); n > 6 {
		t.Fatalf("%d transactions for %d appends made at once, want about 4", n, appends)
	}
	if l := g.largest.Load(); l > 49 {
		t.Fatalf("a transaction of %d events: over DynamoDB's 100 items", l)
	}
	es, err := st.Read(ctx, "restaurant:busy", sorted[0]-1, eventlog.MaxReadLimit)
	if err != nil || len(es) != appends {
		t.Fatalf("read %d entries, %v; want %d", len(es), err, appends)
	}
	for k, en := range es {
		i, _ := strconv.Atoi(strings.TrimPrefix(en.Event.ID, "ev-"))
		if en.Position != pos[i] || en.Position != sorted[k] {
			t.Fatalf("entry %d: %s at %d, its append said %d", k, en.Event.ID, en.Position, pos[i])
		}
	}
}
