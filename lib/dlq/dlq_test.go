package dlq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

var appSeq atomic.Int32

// topo is a small app of its own per test: one table, two routes.
func topo() topology.Topology {
	return topology.Topology{
		App:    fmt.Sprintf("dlqt%d-%d", os.Getpid()%10000, appSeq.Add(1)),
		Tables: []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{
			{Name: "ship", Tables: []string{"orders"}, Timeout: 5 * time.Second},
		},
		Routes: []topology.Route{
			{Name: "ship-order", Function: "ship", MaxReceiveCount: 2, Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Insert}}},
			{Name: "ship-late", Function: "ship", Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Modify}}},
		},
	}
}

type fixture struct {
	t    *testing.T
	topo topology.Topology
	res  *provision.Resources
	sqs  *sqs.Client
}

func setup(t *testing.T) *fixture {
	t.Helper()
	cfg := emulatortest.Config(t)
	tp := topo()
	res, err := provision.Apply(context.Background(), cfg, tp)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, topo: tp, res: res, sqs: sqs.NewFromConfig(cfg)}
}

func (f *fixture) client(mod func(*dlq.Config)) *dlq.Client {
	f.t.Helper()
	queues, err := dlq.LocalQueues(context.Background(), f.sqs, f.topo)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := dlq.Config{SQS: f.sqs, Topology: f.topo, Queues: queues, Hold: 2 * time.Second, MoveTaskPoll: 50 * time.Millisecond, Logger: quiet()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := dlq.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func event(id string) change.Event {
	return change.Event{
		ID: id, Table: "orders", Operation: topology.Insert,
		Keys: json.RawMessage(`{"id":"ord_` + id + `"}`), New: json.RawMessage(`{"id":"ord_` + id + `","status":"PLACED"}`),
		SequenceNumber: "1000000000000000" + fmt.Sprintf("%05d", len(id)), ApproximateAt: time.Now().UTC().Truncate(time.Second),
		CorrelationID: "corr-" + id,
	}
}

// body is the event as EventBridge delivers it to a route's queue.
func body(t testing.TB, e change.Event) string {
	t.Helper()
	d, err := e.Detail()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "evb-" + e.ID, "detail-type": topology.DetailType, "source": "test.changes", "detail": json.RawMessage(d)})
	return string(b)
}

// deadLetter has the route's real consumer fail the event permanently:
// it sends it to the dead-letter queue with its reason.
func (f *fixture) deadLetter(route string, e change.Event, cause error) {
	f.t.Helper()
	r := f.res.Routes[route]
	c, err := consumer.NewEvent(func(context.Context, change.Event) error { return cause }, consumer.Config{
		Function: r.Function, SQS: f.sqs,
		Routes: []consumer.Route{{Name: route, QueueARN: r.QueueARN, DLQURL: r.DLQURL}},
		Logger: quiet(),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "src-" + e.ID, Body: body(f.t, e), EventSourceARN: r.QueueARN,
		Attributes: map[string]string{"ApproximateReceiveCount": "3"},
	}}})
	if err != nil || len(resp.BatchItemFailures) > 0 {
		f.t.Fatalf("the consumer did not dead-letter %s: %v %v", e.ID, err, resp.BatchItemFailures)
	}
}

// exhaust has the route's queue's redrive policy move the event's message
// to the dead-letter queue: it is received and failed MaxReceiveCount
// times. It returns the message id.
func (f *fixture) exhaust(route string, e change.Event) string {
	f.t.Helper()
	ctx := context.Background()
	r := f.res.Routes[route]
	sent, err := f.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(r.QueueURL), MessageBody: aws.String(body(f.t, e))})
	if err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			f.t.Fatal(err)
		}
		if len(out.Messages) == 0 && f.depth(r.DLQURL) > 0 {
			return aws.ToString(sent.MessageId)
		}
		for _, m := range out.Messages {
			if _, err := f.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(r.QueueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				f.t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatal("the redrive policy did not move the message")
		}
	}
}

func (f *fixture) depth(url string) int {
	f.t.Helper()
	out, err := f.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	b, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return a + b
}

// drain receives (and deletes) every message of a queue, waiting until
// want of them are there; it returns the change event ids, duplicates
// included.
func (f *fixture) drain(url string, want int) []string {
	f.t.Helper()
	ctx := context.Background()
	var ids []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			f.t.Fatal(err)
		}
		for _, m := range out.Messages {
			e, err := change.FromEventBridge(aws.ToString(m.Body))
			if err != nil {
				f.t.Fatalf("a message that is not a change event: %v", err)
			}
			ids = append(ids, e.ID)
			if _, err := f.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				f.t.Fatal(err)
			}
		}
		if len(out.Messages) == 0 && (len(ids) >= want || time.Now().After(deadline)) {
			slices.Sort(ids)
			return ids
		}
	}
}

func TestListShowsTheConsumersReason(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e := event("e1")
	f.deadLetter("ship-order", e, errs.Permanent(errs.New(errs.BadUserInput, "no such menu item: calzone")))
	c := f.client(nil)

	msgs, err := c.List(context.Background(), "ship-order", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	want := dlq.Message{
		Route: "ship-order", Function: "ship", By: dlq.ByConsumer, EventID: "e1", Table: "orders", Operation: topology.Insert,
		Item: "orders/ord_e1", CorrelationID: "corr-e1", Reason: "BAD_USER_INPUT: no such menu item: calzone", Code: string(errs.BadUserInput),
		Attempts: 3, SourceMessageID: "src-e1",
	}
	got := m
	got.ID, got.Keys, got.SentAt, got.ReceiveCount = "", nil, time.Time{}, 0
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("message\n got %+v\nwant %+v", got, want)
	}
	if m.ID == "" || string(m.Keys) != `{"id":"ord_e1"}` || time.Since(m.SentAt) > time.Minute {
		t.Errorf("id %q, keys %s, sent %s", m.ID, m.Keys, m.SentAt)
	}
	// Listing hid nothing: the message is visible again at once.
	again, err := c.List(context.Background(), "ship-order", 0)
	if err != nil || len(again) != 1 || again[0].ID != m.ID {
		t.Fatalf("second listing: %v %+v", err, again)
	}
	if again[0].ReceiveCount != m.ReceiveCount+1 {
		t.Errorf("receive count %d after a listing, want %d", again[0].ReceiveCount, m.ReceiveCount+1)
	}
	// The other route's queue is empty.
	if other, err := c.List(context.Background(), "ship-late", 0); err != nil || len(other) != 0 {
		t.Errorf("ship-late: %v %+v", err, other)
	}
	depths, err := c.Depths(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byRoute := map[string]dlq.Depth{}
	for _, d := range depths {
		byRoute[d.Route] = d
	}
	if len(depths) != len(f.topo.RoutesWithDefaults()) || byRoute["ship-order"] != (dlq.Depth{Route: "ship-order", Visible: 1}) || byRoute["ship-late"] != (dlq.Depth{Route: "ship-late"}) {
		t.Errorf("depths %+v", depths)
	}
}

func TestListExplainsWhatTheRedrivePolicyMoved(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e := event("e2")
	msgID := f.exhaust("ship-order", e)

	// Without a log: no reason, the attempts the policy allows.
	msgs, err := f.client(nil).List(context.Background(), "ship-order", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].By != dlq.ByRedrivePolicy || msgs[0].Reason != "" || msgs[0].Attempts != 2 ||
		msgs[0].ID != msgID || msgs[0].SourceMessageID != msgID || msgs[0].EventID != "e2" || msgs[0].LastFailure != nil {
		t.Fatalf("without a log: %+v", msgs)
	}
	if msgs[0].ReceiveCount < 2 {
		t.Errorf("receive count %d, want at least the 2 attempts", msgs[0].ReceiveCount)
	}

	// With the log: the last failed delivery of the route is the reason.
	log, err := eventlog.OpenFileStore(t.TempDir(), eventlog.FileConfig{Topology: f.topo})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	if err := log.WriteChanges(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := log.WriteDeliveries(ctx,
		eventlog.Delivery{EventID: "e2", Route: "ship-order", Function: "ship", Attempt: 1, Outcome: eventlog.Retry, Error: "carrier timeout", Code: errs.Unavailable, MessageID: msgID, At: at},
		eventlog.Delivery{EventID: "e2", Route: "ship-order", Function: "ship", Attempt: 2, Outcome: eventlog.Panic, Error: "panic: nil map", MessageID: msgID, At: at.Add(time.Second)},
		eventlog.Delivery{EventID: "e2", Route: "ship-late", Function: "ship", Attempt: 1, Outcome: eventlog.Retry, Error: "another route", MessageID: "other", At: at.Add(2 * time.Second)},
	); err != nil {
		t.Fatal(err)
	}
	msgs, err = f.client(func(c *dlq.Config) { c.Log = log }).List(ctx, "ship-order", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("with the log: %+v", msgs)
	}
	m := msgs[0]
	if m.Reason != "panic: nil map" || m.Attempts != 2 || m.LastFailure == nil || m.LastFailure.Attempt != 2 || m.LastFailure.Outcome != eventlog.Panic {
		t.Errorf("with the log: reason %q, attempts %d, last failure %+v", m.Reason, m.Attempts, m.LastFailure)
	}
}

func TestListLimit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 12 {
		f.deadLetter("ship-order", event(fmt.Sprintf("l%02d", i)), errs.Permanent(errors.New("bad")))
	}
	c := f.client(nil)
	msgs, err := c.List(context.Background(), "ship-order", 5)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("limit 5: %v, %d messages", err, len(msgs))
	}
	all, err := c.List(context.Background(), "ship-order", 0)
	if err != nil || len(all) != 12 {
		t.Fatalf("all: %v, %d messages", err, len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].SentAt.Before(all[i-1].SentAt) {
			t.Errorf("not oldest first: %s before %s", all[i-1].SentAt, all[i].SentAt)
		}
	}
	if _, err := c.List(context.Background(), "ship-order", -1); errs.CodeOf(err) != errs.BadUserInput {
		t.Errorf("limit -1: %v", err)
	}
	if _, err := c.List(context.Background(), "nope", 0); !errors.Is(err, dlq.ErrNoRoute) {
		t.Errorf("unknown route: %v", err)
	}
}

func TestRedriveAllFallsBackWithoutMoveTasks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var want []string
	for i := range 23 {
		id := fmt.Sprintf("r%02d", i)
		want = append(want, id)
		f.deadLetter("ship-order", event(id), errs.Permanent(errors.New("bad")))
	}
	c := f.client(nil)
	res, err := c.Redrive(context.Background(), "ship-order", dlq.Selection{All: true})
	if err != nil {
		t.Fatal(err)
	}
	// moto has no StartMessageMoveTask: the client noticed and resent.
	if !reflect.DeepEqual(res, dlq.Result{Route: "ship-order", Count: 23, Method: dlq.MethodResend}) {
		t.Errorf("result %+v", res)
	}
	r := f.res.Routes["ship-order"]
	if got := f.drain(r.QueueURL, 23); !slices.Equal(got, want) {
		t.Errorf("the queue got %v, want %v", got, want)
	}
	if d := f.depth(r.DLQURL); d != 0 {
		t.Errorf("%d messages left in the dead-letter queue", d)
	}
	// Nothing to redrive is no error.
	if res, err := c.Redrive(context.Background(), "ship-order", dlq.Selection{All: true}); err != nil || res.Count != 0 {
		t.Errorf("empty queue: %+v %v", res, err)
	}
}

func TestRedriveAndDropByID(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, id := range []string{"a", "b", "c", "d"} {
		f.deadLetter("ship-order", event(id), errs.Permanent(errors.New("bad "+id)))
	}
	c := f.client(nil)
	ctx := context.Background()
	msgs, err := c.List(ctx, "ship-order", 0)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("list: %v %+v", err, msgs)
	}
	byEvent := map[string]dlq.Message{}
	for _, m := range msgs {
		byEvent[m.EventID] = m
	}
	// One by its message id, one by its event id.
	res, err := c.Redrive(ctx, "ship-order", dlq.Selection{IDs: []string{byEvent["a"].ID, "b"}})
	if err != nil || res.Count != 2 || res.Method != dlq.MethodResend {
		t.Fatalf("redrive a, b: %+v %v", res, err)
	}
	res, err = c.Drop(ctx, "ship-order", dlq.Selection{IDs: []string{"c", "nope"}})
	if !errors.Is(err, dlq.ErrMissing) || res.Count != 1 || !slices.Equal(res.Missing, []string{"nope"}) {
		t.Fatalf("drop c, nope: %+v %v", res, err)
	}
	r := f.res.Routes["ship-order"]
	if got := f.drain(r.QueueURL, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("the queue got %v", got)
	}
	left, err := c.List(ctx, "ship-order", 0)
	if err != nil || len(left) != 1 || left[0].EventID != "d" {
		t.Fatalf("left: %v %+v", err, left)
	}
	res, err = c.Drop(ctx, "ship-order", dlq.Selection{All: true})
	if err != nil || res.Count != 1 {
		t.Fatalf("drop all: %+v %v", res, err)
	}
	if d := f.depth(r.DLQURL); d != 0 {
		t.Errorf("%d messages left", d)
	}
	for _, sel := range []dlq.Selection{{}, {All: true, IDs: []string{"x"}}, {IDs: []string{" "}}} {
		if _, err := c.Redrive(ctx, "ship-order", sel); errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("selection %+v: %v", sel, err)
		}
	}
}

// crashing is an SQS client that dies at a chosen call: that call and
// every later one fail, as for a process killed there.
type crashing struct {
	*sqs.Client
	deletes  atomic.Int32
	crashAt  int32 // the nth DeleteMessageBatch
	dead     atomic.Bool
	errCrash error
}

func (c *crashing) check() error {
	if c.dead.Load() {
		return c.errCrash
	}
	return nil
}

func (c *crashing) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Client.ReceiveMessage(ctx, in, o...)
}

func (c *crashing) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Client.SendMessageBatch(ctx, in, o...)
}

func (c *crashing) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if c.deletes.Add(1) >= c.crashAt {
		c.dead.Store(true)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Client.DeleteMessageBatch(ctx, in, o...)
}

func (c *crashing) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Client.ChangeMessageVisibilityBatch(ctx, in, o...)
}

func TestRedriveCrashBetweenSendAndDeleteLosesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("k%02d", i)
		want = append(want, id)
		f.deadLetter("ship-order", event(id), errs.Permanent(errors.New("bad")))
	}
	// The process dies at its second delete: the first ten messages were
	// sent and deleted, the next ten sent but not deleted.
	crash := &crashing{Client: f.sqs, crashAt: 2, errCrash: errors.New("process killed")}
	c := f.client(func(cfg *dlq.Config) { cfg.SQS = crash; cfg.MoveTasks = dlq.MoveTasksNever })
	if _, err := c.Redrive(context.Background(), "ship-order", dlq.Selection{All: true}); err == nil {
		t.Fatal("the crashed redrive reported success")
	}
	r := f.res.Routes["ship-order"]
	// Every event is in the queue, the dead-letter queue or both.
	inQueue := f.drain(r.QueueURL, 20)
	inDLQ := map[string]bool{}
	// The messages it held come back after the hold.
	c2 := f.client(nil)
	harnessWait(t, func() bool {
		d, err := c2.Depth(context.Background(), "ship-order")
		return err == nil && d.InFlight == 0
	})
	left, err := c2.List(context.Background(), "ship-order", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range left {
		inDLQ[m.EventID] = true
	}
	for _, id := range want {
		if !slices.Contains(inQueue, id) && !inDLQ[id] {
			t.Errorf("event %s was lost", id)
		}
	}
	dups := 0
	for _, id := range inQueue {
		if inDLQ[id] {
			dups++
		}
	}
	if len(inQueue) != 20 || dups != 10 || len(left) != 15 {
		t.Errorf("%d sent, %d left, %d in both: want 20 sent (10 deleted before the crash, 10 after), 15 left, 10 in both", len(inQueue), len(left), dups)
	}
	// A second run finishes the job; duplicates, never losses.
	res, err := c2.Redrive(context.Background(), "ship-order", dlq.Selection{All: true})
	if err != nil || res.Count != 15 {
		t.Fatalf("second redrive: %+v %v", res, err)
	}
	got := map[string]bool{}
	for _, id := range append(inQueue, f.drain(r.QueueURL, 15)...) {
		got[id] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("event %s never reached the queue", id)
		}
	}
	if d := f.depth(r.DLQURL); d != 0 {
		t.Errorf("%d messages left in the dead-letter queue", d)
	}
}

func harnessWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refailing is an SQS client behind which the function fails every
// redriven message again at once: each send is followed by the
// consumer's dead-lettering of the new message.
type refailing struct {
	*sqs.Client
	dlqURL string
}

func (r *refailing) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := r.Client.SendMessageBatch(ctx, in, o...)
	if err != nil {
		return out, err
	}
	for _, s := range out.Successful {
		i, _ := strconv.Atoi(aws.ToString(s.Id))
		_, err := r.Client.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(r.dlqURL), MessageBody: in.Entries[i].MessageBody,
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				consumer.AttrReason:          {DataType: aws.String("String"), StringValue: aws.String("still broken")},
				consumer.AttrSourceMessageID: {DataType: aws.String("String"), StringValue: s.MessageId},
			},
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestRedriveDoesNotChaseMessagesThatFailAgain(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 12 {
		f.deadLetter("ship-order", event(fmt.Sprintf("f%02d", i)), errs.Permanent(errors.New("bad")))
	}
	r := f.res.Routes["ship-order"]
	c := f.client(func(cfg *dlq.Config) { cfg.SQS = &refailing{Client: f.sqs, dlqURL: r.DLQURL} })
	res, err := c.Redrive(context.Background(), "ship-order", dlq.Selection{All: true})
	if err != nil || res.Count != 12 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	left, err := f.client(nil).List(context.Background(), "ship-order", 0)
	if err != nil || len(left) != 12 {
		t.Fatalf("want the 12 failed-again messages left: %v, %d", err, len(left))
	}
	for _, m := range left {
		if m.Reason != "still broken" {
			t.Errorf("left %+v", m)
		}
	}
}

// moving is an SQS endpoint with message move tasks: a task moves the
// messages with the real client the first time it is looked at.
type moving struct {
	*sqs.Client
	mu      sync.Mutex
	started int
	tasks   []sqstypes.ListMessageMoveTasksResultEntry
	queues  map[string]string // ARN -> URL
}

func (m *moving) StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started++
	h := fmt.Sprintf("task-%d", m.started)
	m.tasks = append([]sqstypes.ListMessageMoveTasksResultEntry{{
		TaskHandle: aws.String(h), Status: aws.String("RUNNING"), SourceArn: in.SourceArn, DestinationArn: in.DestinationArn,
		StartedTimestamp: time.Now().UnixMilli(),
	}}, m.tasks...)
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String(h)}, nil
}

func (m *moving) ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, _ ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.tasks {
		t := &m.tasks[i]
		if aws.ToString(t.Status) != "RUNNING" {
			continue
		}
		src, dst := m.queues[aws.ToString(t.SourceArn)], m.queues[aws.ToString(t.DestinationArn)]
		for {
			out, err := m.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(src), MaxNumberOfMessages: 10})
			if err != nil {
				return nil, err
			}
			if len(out.Messages) == 0 {
				break
			}
			for _, msg := range out.Messages {
				if _, err := m.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dst), MessageBody: msg.Body}); err != nil {
					return nil, err
				}
				if _, err := m.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(src), ReceiptHandle: msg.ReceiptHandle}); err != nil {
					return nil, err
				}
				t.ApproximateNumberOfMessagesMoved++
			}
		}
		// As SQS does, an ended task has no handle.
		t.Status, t.TaskHandle = aws.String("COMPLETED"), nil
		return &sqs.ListMessageMoveTasksOutput{Results: []sqstypes.ListMessageMoveTasksResultEntry{{Status: aws.String("RUNNING"), TaskHandle: aws.String(fmt.Sprintf("task-%d", m.started)), StartedTimestamp: t.StartedTimestamp}}}, nil
	}
	return &sqs.ListMessageMoveTasksOutput{Results: append([]sqstypes.ListMessageMoveTasksResultEntry(nil), m.tasks...)}, nil
}

func TestRedriveAllUsesAMoveTaskWhereThereIsOne(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 7 {
		f.deadLetter("ship-order", event(fmt.Sprintf("m%d", i)), errs.Permanent(errors.New("bad")))
	}
	r := f.res.Routes["ship-order"]
	mv := &moving{Client: f.sqs, queues: map[string]string{r.QueueARN: r.QueueURL, r.DLQARN: r.DLQURL}}
	c := f.client(func(cfg *dlq.Config) { cfg.SQS = mv })
	res, err := c.Redrive(context.Background(), "ship-order", dlq.Selection{All: true})
	if err != nil || !reflect.DeepEqual(res, dlq.Result{Route: "ship-order", Count: 7, Method: dlq.MethodMoveTask}) {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	if mv.started != 1 {
		t.Errorf("%d move tasks started", mv.started)
	}
	if got := f.drain(r.QueueURL, 7); len(got) != 7 {
		t.Errorf("the queue got %v", got)
	}
	// Chosen messages are always resent, task or not.
	f.deadLetter("ship-order", event("m9"), errs.Permanent(errors.New("bad")))
	res, err = c.Redrive(context.Background(), "ship-order", dlq.Selection{IDs: []string{"m9"}})
	if err != nil || res.Method != dlq.MethodResend || res.Count != 1 || mv.started != 1 {
		t.Fatalf("redrive by id: %+v %v (%d tasks)", res, err, mv.started)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
