package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
)

// fakeQueue is a FIFO queue: it keeps sent messages in order,
// deduplicating by deduplication id, and hands them out as the event
// source mapping would.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []sqstypes.SendMessageBatchRequestEntry
	seen map[string]bool
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("%d entries in one batch", len(in.Entries))
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if aws.ToString(e.MessageGroupId) == "" || aws.ToString(e.MessageDeduplicationId) == "" {
			return nil, errors.New("FIFO entry without group or deduplication id")
		}
		if !q.seen[*e.MessageDeduplicationId] {
			q.seen[*e.MessageDeduplicationId] = true
			q.msgs = append(q.msgs, e)
		}
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// take removes and returns every message as one SQS event.
func (q *fakeQueue) take() events.SQSEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ev events.SQSEvent
	for i, m := range q.msgs {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i), Body: *m.MessageBody,
			Attributes: map[string]string{"MessageGroupId": *m.MessageGroupId},
		})
	}
	q.msgs = nil
	return ev
}

func (q *fakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

func manySubs(topicItem string, n int, prefix string) []store.Subscription {
	var subs []store.Subscription
	for i := range n {
		subs = append(subs, sub(fmt.Sprintf("%s%03d", prefix, i), "1", topicItem, fmt.Sprintf(`{"sub":"u%d"}`, i)))
	}
	return subs
}

func queued(q *fakeQueue, threshold, partitions int) func(*Config) {
	return func(c *Config) {
		c.Queue, c.QueueURL, c.QueueThreshold, c.Partitions = q, "https://sqs.local/push.fifo", threshold, partitions
	}
}

// TestLargeAudienceGoesThroughTheQueue: a change with more subscriptions
// than the threshold is split by connection into message groups (each
// connection in its Partition's), marked queued on its topic, and pushed
// by HandlePushes: each subscriber once, and the marks cleared.
func TestLargeAudienceGoesThroughTheQueue(t *testing.T) {
	subs := manySubs("i1", 30, "c")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	api, q := &fakeAPI{}, &fakeQueue{}
	f := newFanout(t, st, api, &rootResolver{}, queued(q, 5, 4))
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Queued != 30 || stats.Pushed != 0 || stats.Messages != q.len() || q.len() < 2 {
		t.Fatalf("stats %+v with %d messages: want 30 queued, none pushed", stats, q.len())
	}
	if n := len(st.queued["item:i1"]); n != q.len() {
		t.Fatalf("%d messages marked queued on the topic, %d sent", n, q.len())
	}
	for _, m := range q.msgs {
		var pm pushMessage
		if err := json.Unmarshal([]byte(*m.MessageBody), &pm); err != nil {
			t.Fatal(err)
		}
		for _, s := range pm.Subs {
			if g := messageGroup(Partition(s.Connection, 4)); g != *m.MessageGroupId {
				t.Fatalf("%s in group %s, its partition's is %s", s.Connection, *m.MessageGroupId, g)
			}
		}
	}
	resp, err := f.HandlePushes(context.Background(), q.take())
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("HandlePushes = %+v, %v", resp, err)
	}
	for i, s := range subs {
		got := api.sent(s.ConnectionID)
		if len(got) != 1 || !strings.Contains(got[0], fmt.Sprintf(`"viewer":"u%d"`, i)) {
			t.Fatalf("%s got %q, want one push as u%d", s.ConnectionID, got, i)
		}
	}
	if n := len(st.queued["item:i1"]); n != 0 {
		t.Fatalf("%d messages still marked queued after they were handled", n)
	}
}

// TestSmallAudienceTakesNoHop: at or under the threshold, with nothing
// queued for the topic, a change is pushed from the stream.
func TestSmallAudienceTakesNoHop(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": manySubs("i1", 5, "c")}}
	api, q := &fakeAPI{}, &fakeQueue{}
	f := newFanout(t, st, api, &rootResolver{}, queued(q, 5, 4))
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil || stats.Pushed != 5 || stats.Queued != 0 || q.len() != 0 {
		t.Fatalf("stats %+v, %v, %d messages; want 5 pushed and nothing queued", stats, err, q.len())
	}
}

// TestQueuedWorkKeepsTheTopicQueued: while a topic has queued messages not
// done, its next change goes through the queue too, however small its
// audience, so that it cannot overtake them; each connection's changes
// arrive in commit order. Once they are done, changes go direct again.
func TestQueuedWorkKeepsTheTopicQueued(t *testing.T) {
	subs := manySubs("i1", 8, "c")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	api, q := &fakeAPI{}, &fakeQueue{}
	f := newFanout(t, st, api, &rootResolver{}, queued(q, 5, 3))
	ctx := context.Background()
	if stats, err := f.Publish(ctx, itemEvent("i1", "PAID")); err != nil || stats.Queued != 8 {
		t.Fatalf("hot change: %+v, %v", stats, err)
	}
	// The audience shrinks under the threshold before the workers ran.
	st.mu.Lock()
	st.subs["item:i1"] = subs[:3]
	st.mu.Unlock()
	if stats, err := f.Publish(ctx, itemEvent("i1", "APPROVED")); err != nil || stats.Queued != 3 || stats.Pushed != 0 {
		t.Fatalf("small change behind queued work: %+v, %v; want it queued", stats, err)
	}
	if resp, err := f.HandlePushes(ctx, q.take()); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("HandlePushes = %+v, %v", resp, err)
	}
	for i, s := range subs {
		got := api.sent(s.ConnectionID)
		want := []string{"PAID", "APPROVED"}
		if i >= 3 {
			want = want[:1]
		}
		if len(got) != len(want) {
			t.Fatalf("%s got %d pushes, want %v", s.ConnectionID, len(got), want)
		}
		for k, w := range want {
			if !strings.Contains(got[k], `"status":"`+w+`"`) {
				t.Fatalf("%s push %d = %s, want %s", s.ConnectionID, k, got[k], w)
			}
		}
	}
	if stats, err := f.Publish(ctx, itemEvent("i1", "DRIVER_ASSIGNED")); err != nil || stats.Pushed != 3 || q.len() != 0 {
		t.Fatalf("after the queue drained: %+v, %v, %d queued; want pushed directly", stats, err, q.len())
	}
}

// TestMessagesStayWithinTheSizeBound: a partition's share larger than a
// message is split, every message within QueueMessageBytes, every
// subscription in exactly one.
func TestMessagesStayWithinTheSizeBound(t *testing.T) {
	subs := manySubs("i1", 200, "conn-with-a-long-id-")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	q := &fakeQueue{}
	f := newFanout(t, st, &fakeAPI{}, &rootResolver{}, func(c *Config) {
		queued(q, 10, 2)(c)
		c.QueueMessageBytes = 4096
	})
	if _, err := f.Publish(context.Background(), itemEvent("i1", "PAID")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range q.msgs {
		if len(*m.MessageBody) > 4096 {
			t.Fatalf("message of %d bytes, over 4096", len(*m.MessageBody))
		}
		var pm pushMessage
		if err := json.Unmarshal([]byte(*m.MessageBody), &pm); err != nil {
			t.Fatal(err)
		}
		got, err := pm.subscriptions()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			seen[s.ConnectionID]++
			if s.Query != watchQuery || s.Variables["id"] != "i1" || len(s.Session) == 0 {
				t.Fatalf("subscription read back as %+v", s)
			}
		}
	}
	if len(q.msgs) < 4 || len(seen) != 200 {
		t.Fatalf("%d messages covering %d connections, want several covering 200", len(q.msgs), len(seen))
	}
	for c, n := range seen {
		if n != 1 {
			t.Fatalf("%s in %d messages", c, n)
		}
	}
}

// TestChangeTooLargeForAMessageIsPushedDirectly: a change that leaves no
// room for a subscription in a message is pushed from the stream.
func TestChangeTooLargeForAMessageIsPushedDirectly(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": manySubs("i1", 10, "c")}}
	api, q := &fakeAPI{}, &fakeQueue{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) {
		queued(q, 5, 2)(c)
		c.QueueMessageBytes = 1024
	})
	e := itemEvent("i1", "PAID")
	e.Old = json.RawMessage(`{"id":"i1","status":"PLACED","blob":"` + strings.Repeat("y", 2000) + `"}`)
	stats, err := f.Publish(context.Background(), e)
	if err != nil || stats.Pushed != 10 || q.len() != 0 {
		t.Fatalf("%+v, %v, %d queued; want all 10 pushed directly", stats, err, q.len())
	}
}

// rateAPI accepts one post per interval across all connections and
// answers the others 429 LimitExceededException, as a throttled
// Management API does.
type rateAPI struct {
	fakeAPI
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
	refused  int
}

func (a *rateAPI) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	a.mu.Lock()
	now := time.Now()
	if now.Before(a.next) {
		a.refused++
		a.mu.Unlock()
		return nil, &apitypes.LimitExceededException{Message: aws.String("Rate exceeded")}
	}
	a.next = now.Add(a.interval)
	a.mu.Unlock()
	return a.fakeAPI.PostToConnection(ctx, in, opts...)
}

// TestThrottledPushesAreNeverDropped: posts refused for the rate are tried
// again until each is delivered.
func TestThrottledPushesAreNeverDropped(t *testing.T) {
	subs := manySubs("i1", 40, "c")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	api := &rateAPI{interval: 2 * time.Millisecond}
	f := newFanout(t, st, nil, &rootResolver{}, func(c *Config) { c.Management = api })
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil || stats.Pushed != 40 || stats.Failed != 0 {
		t.Fatalf("%+v, %v; want all 40 pushed", stats, err)
	}
	if api.refused == 0 {
		t.Fatal("the API never throttled: the test proves nothing")
	}
	for _, s := range subs {
		if n := len(api.sent(s.ConnectionID)); n != 1 {
			t.Fatalf("%s got %d pushes", s.ConnectionID, n)
		}
	}
}

// TestStillThrottledAtTheDeadline: pushes the API keeps refusing until
// the deadline are not dropped: the record fails (the stream delivers it
// again), and a push message fails with the rest of its group.
func TestStillThrottledAtTheDeadline(t *testing.T) {
	subs := manySubs("i1", 6, "c")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	api := &rateAPI{interval: time.Hour}
	api.next = time.Now().Add(time.Hour)
	f := newFanout(t, st, nil, &rootResolver{}, func(c *Config) { c.Management = api })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := f.Handle(ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record("1", "a", "i1", "PAID"), record("2", "b", "i1", "APPROVED"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("batch item failures = %v, want [1 2]", got)
	}

	// Two messages of one group and one of another: the first of the
	// group fails, so the second is not handled and fails too.
	q := &fakeQueue{}
	fq := newFanout(t, st, nil, &rootResolver{}, func(c *Config) {
		queued(q, 1, 1)(c)
		c.Management = api
	})
	for _, status := range []string{"PAID", "APPROVED"} {
		if _, err := fq.Publish(context.Background(), itemEvent("i1", status)); err != nil {
			t.Fatal(err)
		}
	}
	ev := q.take()
	if len(ev.Records) != 2 {
		t.Fatalf("%d messages, want 2 (one group)", len(ev.Records))
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	presp, err := fq.HandlePushes(ctx2, ev)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range presp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if fmt.Sprint(failed) != "[m0 m1]" {
		t.Fatalf("failed messages %v, want [m0 m1]", failed)
	}
	if n := len(st.queued["item:i1"]); n != 2 {
		t.Fatalf("%d messages marked queued, want both still", n)
	}
}

func failures(resp events.DynamoDBEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// TestQueuedPushesCarryCursors: through the push queue, as from the
// stream, each push carries the cursor of the change's position in its
// topic's log, and a subscription holding kept pushes gets them first.
func TestQueuedPushesCarryCursors(t *testing.T) {
	subs := manySubs("i1", 10, "c")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	api, q, log := &fakeAPI{}, &fakeQueue{}, &memLog{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) {
		queued(q, 5, 4)(c)
		c.Log = log
	})
	if _, err := st.AddPending(context.Background(), subs[0], store.Pending{Position: 999, Frame: []byte(`{"kept":1}`)}); err != nil {
		t.Fatal(err)
	}
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil || stats.Queued != 10 {
		t.Fatalf("%+v, %v", stats, err)
	}
	if _, err := f.HandlePushes(context.Background(), q.take()); err != nil {
		t.Fatal(err)
	}
	cursor := realtime.EncodeCursor("item:i1", 1000)
	for i, s := range subs {
		got := api.sent(s.ConnectionID)
		if i == 0 {
			if len(got) != 2 || got[0] != `{"kept":1}` {
				t.Fatalf("%s got %q, want the kept push, then the change", s.ConnectionID, got)
			}
			got = got[1:]
		}
		if len(got) != 1 || !strings.Contains(got[0], `"extensions":{"cursor":"`+cursor+`"}`) {
			t.Fatalf("%s got %q, want one push with cursor %s", s.ConnectionID, got, cursor)
		}
	}
	if st.held(subs[0].ConnectionID, subs[0].ID) != 0 {
		t.Fatal("the kept push is still held")
	}
}
