// Package apptest tests an app's functions against the emulator in a few
// lines, the way graph-gophers ships gqltesting: it creates the tables a
// function uses under names unique to the test, builds the function with
// the same builder its Lambda and the dev runtime use, and delivers change
// events to it through the framework's consumer, as a route would.
//
//	func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
//
//	func TestValidate(t *testing.T) {
//		f := apptest.NewFunction(t, myapp.App, "validateorder")
//		f.Put(t, "orders", order)
//		if err := f.Deliver(t, f.Insert(t, "orders", order)); err != nil {
//			t.Fatal(err)
//		}
//		var got Order
//		f.Get(t, "orders", map[string]any{"id": order.ID}, &got)
//	}
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// Main runs a test binary against the emulator (AWS_ENDPOINT_URL, or a
// private moto started for the binary): call it from TestMain as
// os.Exit(apptest.Main(m)).
func Main(m *testing.M) int { return emulatortest.Main(m) }

var seq atomic.Int64

// Tables creates the named tables of topo (app or framework tables, by
// logical name) on the emulator under names unique to t, deletes them when
// t ends, and returns their topology.TableEnv variables, as a function's
// environment holds them.
func Tables(t testing.TB, topo topology.Topology, logical ...string) map[string]string {
	t.Helper()
	cfg := emulatortest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e9, seq.Add(1))
	env := map[string]string{}
	for _, name := range logical {
		tb, ok := topo.Table(name)
		if !ok {
			t.Fatalf("apptest: no table %q in app %s", name, topo.App)
		}
		physical := fmt.Sprintf("t-%s-%s", name, suffix)
		if _, err := provision.EnsureTable(context.Background(), cfg, physical, tb); err != nil {
			t.Fatalf("apptest: create table %s: %v", physical, err)
		}
		t.Cleanup(func() {
			_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(physical)})
		})
		env[topology.TableEnv(name)] = physical
	}
	return env
}

// Env is an environment for function name of a with fresh tables: those
// the function declares and the framework's idempotency table (or, for a
// name that is not one of a's functions, every app table), plus extra
// variables. It is what the function gets locally, minus the queues.
func Env(t testing.TB, a app.App, name string, extra map[string]string) *app.Env {
	t.Helper()
	topo := a.Topology()
	tables := []string{topology.IdempotencyTable}
	if f, ok := topo.Function(name); ok {
		tables = append(tables, f.Tables...)
	} else {
		for _, tb := range topo.Tables {
			tables = append(tables, tb.Name)
		}
	}
	vars := Tables(t, topo, tables...)
	vars[topology.EnvStage] = "dev"
	if f, ok := topo.Function(name); ok {
		for k, v := range f.Env {
			vars[k] = v
		}
	}
	for k, v := range extra {
		vars[k] = v
	}
	return app.NewEnv(emulatortest.Config(t), app.MapEnv(vars), Logger(t))
}

// Logger is quiet unless the tests run with -v; then it shows warnings
// and errors on stderr.
func Logger(testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(correlation.WrapHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	return slog.New(correlation.WrapHandler(slog.DiscardHandler))
}

// Function is one of an app's functions, built over fresh tables.
type Function struct {
	// Env is the function's environment: Env.Table names its tables.
	Env  *app.Env
	app  app.App
	name string
	c    *consumer.Consumer
	last atomic.Pointer[error]
}

// NewFunction builds function name of a over fresh tables (see Env).
func NewFunction(t testing.TB, a app.App, name string) *Function {
	t.Helper()
	return NewFunctionWith(t, a, name, nil)
}

// NewFunctionWith is NewFunction with extra environment variables.
func NewFunctionWith(t testing.TB, a app.App, name string, extra map[string]string) *Function {
	t.Helper()
	fn, ok := a.Function(name)
	if !ok {
		t.Fatalf("apptest: app %s has no function %q", a.Name, name)
	}
	f := &Function{Env: Env(t, a, name, extra), app: a, name: name}
	h, err := fn.Handler(context.Background(), f.Env)
	if err != nil {
		t.Fatalf("apptest: build %s: %v", name, err)
	}
	record := func(next consumer.EventHandler) consumer.EventHandler {
		return func(ctx context.Context, e change.Event) error {
			err := next(ctx, e)
			f.last.Store(&err)
			return err
		}
	}
	f.c, err = consumer.NewEvent(h, consumer.Config{Function: name, Logger: f.Env.Logger, Middleware: []consumer.Middleware{record}})
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	return f
}

// Deliver hands e to the function as its route's queue would, as an SQS
// message carrying the EventBridge event, and returns the handler's error
// (errs.IsPermanent tells whether it would go to the dead-letter queue at
// once). A body the consumer cannot read fails permanently too.
func (f *Function) Deliver(t testing.TB, e change.Event) error {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"version": "0", "id": "evb-" + e.ID, "detail-type": topology.DetailType,
		"source": f.app.Topology().EventSource(), "time": e.ApproximateAt.UTC().Format(time.RFC3339), "detail": e,
	})
	if err != nil {
		t.Fatalf("apptest: encode event: %v", err)
	}
	return f.DeliverBody(t, string(body))
}

// DeliverBody hands a raw SQS message body to the function.
func (f *Function) DeliverBody(t testing.TB, body string) error {
	t.Helper()
	f.last.Store(nil)
	ctx, cancel := context.WithTimeout(correlation.With(context.Background(), correlation.NewID()), time.Minute)
	defer cancel()
	resp, err := f.c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: fmt.Sprintf("msg-%d", seq.Add(1)), Body: body,
		Attributes: map[string]string{"ApproximateReceiveCount": "1"},
	}}})
	if err != nil {
		t.Fatalf("apptest: consumer: %v", err)
	}
	if len(resp.BatchItemFailures) == 0 {
		return nil
	}
	if p := f.last.Load(); p != nil && *p != nil {
		return *p
	}
	// The handler did not run: the consumer could not read the body.
	if _, err := change.FromEventBridge(body); err != nil {
		return errs.Permanent(err)
	}
	return fmt.Errorf("apptest: the message failed before the handler ran (see the log)")
}

var eventSeq atomic.Int64

// Insert is the change event of item being created in table, as the
// router publishes it.
func (f *Function) Insert(t testing.TB, table string, item any) change.Event {
	t.Helper()
	return f.event(t, table, topology.Insert, nil, item)
}

// Modify is the change event of an item going from old to new.
func (f *Function) Modify(t testing.TB, table string, old, new any) change.Event {
	t.Helper()
	return f.event(t, table, topology.Modify, old, new)
}

// Remove is the change event of item being deleted.
func (f *Function) Remove(t testing.TB, table string, item any) change.Event {
	t.Helper()
	return f.event(t, table, topology.Remove, item, nil)
}

func (f *Function) event(t testing.TB, table string, op topology.Operation, old, new any) change.Event {
	t.Helper()
	tb, ok := f.app.Topology().Table(table)
	if !ok {
		t.Fatalf("apptest: no table %q in app %s", table, f.app.Name)
	}
	e := change.Event{
		ID: fmt.Sprintf("evt-%d-%d", time.Now().UnixNano(), eventSeq.Add(1)), Table: table, Operation: op,
		SequenceNumber: fmt.Sprint(eventSeq.Load()), ApproximateAt: time.Now().UTC().Truncate(time.Second),
	}
	oldMap, newMap := plain(t, old), plain(t, new)
	if oldMap != nil {
		e.Old = mustJSON(t, oldMap)
	}
	if newMap != nil {
		e.New = mustJSON(t, newMap)
	}
	keysFrom := newMap
	if keysFrom == nil {
		keysFrom = oldMap
	}
	keys := map[string]any{}
	for _, k := range keyNames(tb) {
		v, ok := keysFrom[k]
		if !ok {
			t.Fatalf("apptest: the item has no key attribute %q of table %s", k, table)
		}
		keys[k] = v
	}
	e.Keys = mustJSON(t, keys)
	e.Changed = changed(oldMap, newMap)
	return e
}

// Put writes item (a struct with dynamodbav tags, or a map) to table.
func (f *Function) Put(t testing.TB, table string, item any) {
	t.Helper()
	name, err := f.Env.Table(table)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		t.Fatalf("apptest: marshal item: %v", err)
	}
	if _, err := f.Env.DynamoDB().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(name), Item: av}); err != nil {
		t.Fatalf("apptest: put item in %s: %v", table, err)
	}
}

// Get reads the item with key from table into out (consistently) and
// reports whether it exists.
func (f *Function) Get(t testing.TB, table string, key map[string]any, out any) bool {
	t.Helper()
	name, err := f.Env.Table(table)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	k, err := attributevalue.MarshalMap(key)
	if err != nil {
		t.Fatalf("apptest: marshal key: %v", err)
	}
	got, err := f.Env.DynamoDB().GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(name), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("apptest: get item from %s: %v", table, err)
	}
	if got.Item == nil {
		return false
	}
	if err := attributevalue.UnmarshalMap(got.Item, out); err != nil {
		t.Fatalf("apptest: unmarshal item: %v", err)
	}
	return true
}

func keyNames(tb topology.Table) []string {
	names := []string{tb.PartitionKey.Name}
	if tb.SortKey != nil {
		names = append(names, tb.SortKey.Name)
	}
	return names
}

// plain turns an item into the plain JSON object an image is: the item's
// DynamoDB form (dynamodbav tags), numbers with every digit, as the router
// would publish it.
func plain(t testing.TB, item any) map[string]any {
	t.Helper()
	if item == nil {
		return nil
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		t.Fatalf("apptest: marshal item: %v", err)
	}
	m := make(map[string]any, len(av))
	for k, v := range av {
		m[k] = plainValue(v)
	}
	return m
}

func plainValue(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return json.Number(v.Value)
	case *types.AttributeValueMemberBOOL:
		return v.Value
	case *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberB:
		return v.Value // []byte: base64 in JSON, as the router writes binary
	case *types.AttributeValueMemberL:
		out := make([]any, len(v.Value))
		for i, e := range v.Value {
			out[i] = plainValue(e)
		}
		return out
	case *types.AttributeValueMemberM:
		out := make(map[string]any, len(v.Value))
		for k, e := range v.Value {
			out[k] = plainValue(e)
		}
		return out
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberNS:
		out := make([]any, len(v.Value))
		for i, n := range v.Value {
			out[i] = json.Number(n)
		}
		return out
	case *types.AttributeValueMemberBS:
		return v.Value
	}
	return nil
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	return b
}

func changed(old, new map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	for k, v := range new {
		seen[k] = true
		if ov, ok := old[k]; !ok || !equalJSON(ov, v) {
			out = append(out, k)
		}
	}
	for k := range old {
		if !seen[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
