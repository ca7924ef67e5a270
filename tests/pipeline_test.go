package tests

// End-to-end tests of the event pipeline on the emulator: table stream ->
// router -> bus -> rule -> queue (+DLQ) -> consumer, run by the dev runtime
// in this process with test handlers. TestMain (workflow_test.go) starts
// the emulator.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/harness"
)

// pipelineTopology is a small app: one streamed table and one function per
// route, each route selecting items by their "kind".
func pipelineTopology(app string) topology.Topology {
	kind := func(k string) map[string]topology.Condition {
		return map[string]topology.Condition{"kind": topology.Is(k)}
	}
	fn := func(name string) topology.Function {
		return topology.Function{Name: name, Tables: []string{"orders"}, Timeout: 3 * time.Second}
	}
	insert := []topology.Operation{topology.Insert}
	return topology.Topology{
		App:    app,
		Tables: []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{
			fn("onplaced"), fn("onpaid"), fn("onremoved"), fn("flaky"), fn("poison"), fn("permanent"),
			{Name: "bulk", Tables: []string{"orders"}, Timeout: 10 * time.Second},
		},
		Routes: []topology.Route{
			{Name: "placed", Function: "onplaced", Match: topology.Match{
				Table: "orders", Operations: insert,
				New: map[string]topology.Condition{"kind": topology.Is("route"), "status": topology.Is("PLACED")},
			}},
			{Name: "paid", Function: "onpaid", Match: topology.Match{
				Table: "orders", Operations: []topology.Operation{topology.Modify},
				New: map[string]topology.Condition{"kind": topology.Is("route"), "status": topology.Is("PAID")},
				Old: map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
			}},
			{Name: "removed", Function: "onremoved", Match: topology.Match{
				Table: "orders", Operations: []topology.Operation{topology.Remove}, Old: kind("route"),
			}},
			{Name: "flaky", Function: "flaky", MaxReceiveCount: 5, Match: topology.Match{Table: "orders", Operations: insert, New: kind("flaky")}},
			{Name: "poison", Function: "poison", MaxReceiveCount: 3, Match: topology.Match{Table: "orders", Operations: insert, New: kind("poison")}},
			{Name: "permanent", Function: "permanent", MaxReceiveCount: 5, Match: topology.Match{Table: "orders", Operations: insert, New: kind("permanent")}},
			{Name: "bulk", Function: "bulk", MaxReceiveCount: 5, Match: topology.Match{Table: "orders", Operations: insert, New: kind("bulk")}},
		},
	}
}

func newPipeline(t testing.TB, app string) *harness.Pipeline {
	t.Helper()
	return harness.New(t, harness.FastConfig(emulatortest.Config(t), pipelineTopology(app)))
}

func put(t testing.TB, p *harness.Pipeline, id string, attrs map[string]string) {
	t.Helper()
	item := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}
	for k, v := range attrs {
		item[k] = &ddbtypes.AttributeValueMemberS{Value: v}
	}
	if _, err := p.DDB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(p.Table("orders")), Item: item}); err != nil {
		t.Fatal(err)
	}
}

func set(t testing.TB, p *harness.Pipeline, id, attr, value string) {
	t.Helper()
	_, err := p.DDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.Table("orders")),
		Key:                       map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: value}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// received collects the change events each route's handler saw.
type received struct {
	mu     sync.Mutex
	events map[string][]change.Event
}

func (r *received) handler(route string) consumer.EventHandler {
	return func(_ context.Context, e change.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.events == nil {
			r.events = map[string][]change.Event{}
		}
		r.events[route] = append(r.events[route], e)
		return nil
	}
}

func (r *received) get(route string) []change.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[route])
}

func keyID(t testing.TB, e change.Event) string {
	t.Helper()
	id, _ := harness.Image(t, e.Keys)["id"].(string)
	return id
}

// A write reaches exactly the routes whose patterns match it, as a change
// event carrying the table, operation, keys, images and changed attributes.
func TestPipelineRoutesEachChangeByPattern(t *testing.T) {
	p := newPipeline(t, "piperoute")
	var got received
	for _, route := range []string{"placed", "paid", "removed"} {
		p.Consume(t, route, false, got.handler(route))
	}
	p.Start(t)

	put(t, p, "o1", map[string]string{"kind": "route", "status": "PLACED"}) // -> placed
	put(t, p, "o2", map[string]string{"kind": "route", "status": "DRAFT"})  // INSERT, not PLACED: none
	set(t, p, "o2", "status", "PAID")                                       // DRAFT -> PAID: paid
	set(t, p, "o2", "note", "ring twice")                                   // PAID -> PAID: anything-but stops it
	put(t, p, "o3", map[string]string{"kind": "other", "status": "PLACED"}) // another kind: none
	set(t, p, "o3", "status", "PAID")                                       // another kind: none
	if _, err := p.DDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(p.Table("orders")), Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "o1"}},
	}); err != nil {
		t.Fatal(err)
	}

	// The router publishes in stream order and the emulator delivers to
	// queues within PutEvents, so once the last change arrived and every
	// queue is empty, nothing else is on its way.
	harness.WaitFor(t, 30*time.Second, "the REMOVE of o1", func() bool { return len(got.get("removed")) > 0 })
	harness.WaitFor(t, 30*time.Second, "empty queues", func() bool {
		for _, route := range []string{"placed", "paid", "removed"} {
			q, _ := p.Route(route)
			if harness.Depth(t, p.SQS, q) > 0 {
				return false
			}
		}
		return true
	})

	placed, paid, removed := got.get("placed"), got.get("paid"), got.get("removed")
	if len(placed) != 1 || len(paid) != 1 || len(removed) != 1 {
		t.Fatalf("deliveries placed=%d paid=%d removed=%d, want one each:\n%+v\n%+v\n%+v", len(placed), len(paid), len(removed), placed, paid, removed)
	}
	tests := []struct {
		route     string
		e         change.Event
		op        topology.Operation
		id        string
		oldStatus any
		newStatus any
	}{
		{"placed", placed[0], topology.Insert, "o1", nil, "PLACED"},
		{"paid", paid[0], topology.Modify, "o2", "DRAFT", "PAID"},
		{"removed", removed[0], topology.Remove, "o1", "PLACED", nil},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			e := tt.e
			if e.Table != "orders" || e.Operation != tt.op || keyID(t, e) != tt.id {
				t.Errorf("event %s: table %q op %s key %q, want orders %s %s", e.ID, e.Table, e.Operation, keyID(t, e), tt.op, tt.id)
			}
			if got := harness.Image(t, e.Old)["status"]; got != tt.oldStatus {
				t.Errorf("old status %v, want %v", got, tt.oldStatus)
			}
			if got := harness.Image(t, e.New)["status"]; got != tt.newStatus {
				t.Errorf("new status %v, want %v", got, tt.newStatus)
			}
			if e.ID == "" || e.SequenceNumber == "" || ids[e.ID] {
				t.Errorf("event id %q seq %q: want a distinct stream event id and a sequence number", e.ID, e.SequenceNumber)
			}
			ids[e.ID] = true
		})
	}
	if !paid[0].Has("status") || paid[0].Has("kind") {
		t.Errorf("paid event changed=%v, want status and not kind", paid[0].Changed)
	}
}

// Retries, poison messages and permanent failures, each with its own DLQ.
func TestPipelineRetriesAndDeadLetters(t *testing.T) {
	p := newPipeline(t, "piperetry")
	var mu sync.Mutex
	calls := map[string][]int{} // route -> attempts seen
	okAt := 0
	attempt := func(ctx context.Context, route string) int {
		m, _ := consumer.MessageFrom(ctx)
		mu.Lock()
		defer mu.Unlock()
		calls[route] = append(calls[route], m.Attempt)
		return m.Attempt
	}
	p.Consume(t, "flaky", false, func(ctx context.Context, e change.Event) error {
		n := attempt(ctx, "flaky")
		if n <= 2 {
			return errors.New("payment provider timed out")
		}
		mu.Lock()
		okAt = n
		mu.Unlock()
		return nil
	})
	p.Consume(t, "poison", false, func(ctx context.Context, e change.Event) error {
		attempt(ctx, "poison")
		return errors.New("still broken")
	})
	p.Consume(t, "permanent", false, func(ctx context.Context, e change.Event) error {
		attempt(ctx, "permanent")
		return errs.Permanent(errors.New("order references an unknown restaurant"))
	})
	p.Start(t)
	put(t, p, "f1", map[string]string{"kind": "flaky"})
	put(t, p, "p1", map[string]string{"kind": "poison"})
	put(t, p, "x1", map[string]string{"kind": "permanent"})

	flakyQ, flakyDLQ := p.Route("flaky")
	poisonQ, poisonDLQ := p.Route("poison")
	permQ, permDLQ := p.Route("permanent")
	harness.WaitFor(t, 45*time.Second, "flaky handled", func() bool { mu.Lock(); defer mu.Unlock(); return okAt > 0 })
	harness.WaitFor(t, 45*time.Second, "poison and permanent dead-lettered", func() bool {
		return harness.Depth(t, p.SQS, poisonDLQ) == 1 && harness.Depth(t, p.SQS, permDLQ) == 1
	})
	harness.WaitFor(t, 30*time.Second, "queues empty", func() bool {
		return harness.Depth(t, p.SQS, flakyQ)+harness.Depth(t, p.SQS, poisonQ)+harness.Depth(t, p.SQS, permQ) == 0
	})

	mu.Lock()
	if want := []int{1, 2, 3}; !slices.Equal(calls["flaky"], want) || okAt != 3 {
		t.Errorf("flaky attempts %v, succeeded at %d; want %v and 3", calls["flaky"], okAt, want)
	}
	if want := []int{1, 2, 3}; !slices.Equal(calls["poison"], want) {
		t.Errorf("poison attempts %v, want %v (maxReceiveCount 3, then the DLQ)", calls["poison"], want)
	}
	if want := []int{1}; !slices.Equal(calls["permanent"], want) {
		t.Errorf("permanent attempts %v, want %v (DLQ at once)", calls["permanent"], want)
	}
	mu.Unlock()
	if n := harness.Depth(t, p.SQS, flakyDLQ); n != 0 {
		t.Errorf("flaky DLQ holds %d messages, want 0", n)
	}
	for _, c := range []struct{ dlq, id string }{{poisonDLQ, "p1"}, {permDLQ, "x1"}} {
		msgs := harness.Drain(t, p.SQS, c.dlq)
		if len(msgs) != 1 {
			t.Fatalf("DLQ of %s holds %d messages, want 1", c.id, len(msgs))
		}
		if e := harness.Event(t, msgs[0]); keyID(t, e) != c.id {
			t.Errorf("DLQ holds the change of %q, want %q", keyID(t, e), c.id)
		}
		if c.id == "x1" {
			if r := msgs[0].MessageAttributes[consumer.AttrReason]; r.StringValue == nil || *r.StringValue == "" {
				t.Errorf("permanent failure dead-lettered without its reason: %v", msgs[0].MessageAttributes)
			}
		}
	}
}

// 1,000 writes: each is handled, none lost, and deliveries repeated on
// purpose (a message sent twice more; a crash after the handler finished
// but before the message was deleted) have one side effect.
func TestPipelineThousandWritesExactlyOneEffectEach(t *testing.T) {
	const n = 1000
	p := newPipeline(t, "pipebulk")
	var mu sync.Mutex
	effects := map[string]int{}    // item id -> side effects
	deliveries := map[string]int{} // item id -> handler deliveries
	bodies := map[string]string{}  // item id -> a message body, to send again
	crashed := map[string]bool{}   // item ids whose first delivery "crashed" before the delete
	inner := p.ConsumerHandler(t, "bulk", true, func(_ context.Context, e change.Event) error {
		mu.Lock()
		defer mu.Unlock()
		effects[keyID(t, e)]++
		return nil
	})
	p.RT.QueueConsumer("bulk", func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := inner(ctx, ev)
		if err != nil {
			return resp, err
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ev.Records {
			e, err := change.FromEventBridge(m.Body)
			if err != nil {
				t.Errorf("message %s: %v", m.MessageId, err)
				continue
			}
			id := keyID(t, e)
			deliveries[id]++
			bodies[id] = m.Body
			// Every 25th item: the first time its handler succeeds, the
			// process "dies" before the delete, so SQS delivers it again.
			// (Not keyed on the receive count: a first delivery may fail
			// for an ordinary reason, and the crash must still happen.)
			if i, _ := strconv.Atoi(id[1:]); i%25 == 0 && !crashed[id] && !failed[m.MessageId] {
				crashed[id] = true
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return resp, nil
	})
	p.Start(t)

	ids := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				put(t, p, id, map[string]string{"kind": "bulk"})
			}
		}()
	}
	for i := 0; i < n; i++ {
		ids <- fmt.Sprintf("b%04d", i)
	}
	close(ids)
	wg.Wait()

	handledAll := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(effects) == n
	}
	harness.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d items handled", n), handledAll)

	// Send five delivered messages again, twice each, as SQS may.
	q, dlq := p.Route("bulk")
	resent := []string{"b0001", "b0002", "b0333", "b0500", "b0999"}
	for _, id := range resent {
		mu.Lock()
		body := bodies[id]
		mu.Unlock()
		for range 2 {
			if _, err := p.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	harness.WaitFor(t, time.Minute, "the duplicates delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range resent {
			if deliveries[id] < 3 {
				return false
			}
		}
		return true
	})
	harness.WaitFor(t, time.Minute, "queue empty", func() bool { return harness.Depth(t, p.SQS, q) == 0 })

	mu.Lock()
	defer mu.Unlock()
	var wrong []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("b%04d", i)
		if effects[id] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s:%d", id, effects[id]))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("%d items without exactly one side effect (id:count): %v", len(wrong), wrong)
	}
	if len(crashed) != n/25 {
		t.Errorf("%d simulated crashes, want %d", len(crashed), n/25)
	}
	for id := range crashed {
		if deliveries[id] < 2 {
			t.Errorf("%s: %d deliveries after a crash before the delete, want at least 2", id, deliveries[id])
		}
	}
	if d := harness.Depth(t, p.SQS, dlq); d != 0 {
		t.Errorf("DLQ holds %d messages, want 0", d)
	}
}
