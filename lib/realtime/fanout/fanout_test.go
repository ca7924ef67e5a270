package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

const testSDL = `
schema { query: Query subscription: Subscription }
type Query { ok: Boolean! }
type Subscription { itemChanged(id: ID!): Item! }
type Item { id: ID! status: String! blob: String! viewer: String! }
`

type item struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Blob   string `json:"blob"`
}

type itemResolver struct {
	it     item
	viewer string
}

func (r *itemResolver) ID() graphql.ID { return graphql.ID(r.it.ID) }
func (r *itemResolver) Status() string { return r.it.Status }
func (r *itemResolver) Blob() string   { return r.it.Blob }
func (r *itemResolver) Viewer() string { return r.viewer }

type rootResolver struct{ runs atomic.Int64 }

func (*rootResolver) Ok() bool { return true }

func (r *rootResolver) ItemChanged(ctx context.Context, args struct{ ID graphql.ID }) (<-chan *itemResolver, error) {
	r.runs.Add(1)
	ch := make(chan *itemResolver, 1)
	defer close(ch)
	e, ok := realtime.ChangeFrom(ctx)
	if !ok {
		return ch, nil
	}
	c, err := change.Decode[item](e)
	if err != nil || c.NewItem == nil || c.NewItem.ID != string(args.ID) {
		return ch, nil
	}
	id, _ := identity.From(ctx) // the subscriber
	ch <- &itemResolver{it: *c.NewItem, viewer: id.Subject}
	return ch, nil
}

type fakeStore struct {
	mu          sync.Mutex
	subs        map[string][]store.Subscription
	failTopic   string
	deletedConn []string
	deletedSub  []string
	pending     map[string][]store.Pending // by store.SubKey
	pushed      map[string]uint64          // topic -> pushed position
	pushedReads int
	// queued holds each topic's queue mark: the message ids not done.
	queued map[string]map[string]bool
	// marked holds when topics' resumable marks expire; audienceReads
	// counts the reads of each topic's audience.
	marked        map[string]time.Time
	audienceReads map[string]int
	// leased makes TakePending find the kept pushes held by another
	// deliverer.
	leased bool
}

func (s *fakeStore) Audience(_ context.Context, topic string) (store.Audience, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if topic == s.failTopic {
		return store.Audience{}, errors.New("throttled")
	}
	if s.audienceReads == nil {
		s.audienceReads = map[string]int{}
	}
	s.audienceReads[topic]++
	out := append([]store.Subscription(nil), s.subs[topic]...)
	for i := range out {
		out[i].Pending = append([]store.Pending(nil), s.pending[store.SubKey(out[i].ConnectionID, out[i].ID)]...)
	}
	a := store.Audience{Subscriptions: out, Queued: len(s.queued[topic]), Pushed: s.pushed[topic]}
	if until, ok := s.marked[topic]; ok && until.After(time.Now()) {
		a.ResumableUntil = until
	}
	return a, nil
}

func (s *fakeStore) AddPending(_ context.Context, sub store.Subscription, ps ...store.Pending) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string][]store.Pending{}
	}
	k := store.SubKey(sub.ConnectionID, sub.ID)
	s.pending[k] = append(s.pending[k], ps...)
	return len(s.pending[k]), nil
}

func (s *fakeStore) TakePending(_ context.Context, sub store.Subscription, _ time.Duration) ([]store.Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leased {
		return nil, nil
	}
	return append([]store.Pending(nil), s.pending[store.SubKey(sub.ConnectionID, sub.ID)]...), nil
}

func (s *fakeStore) DonePending(_ context.Context, sub store.Subscription, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := store.SubKey(sub.ConnectionID, sub.ID)
	s.pending[k] = s.pending[k][n:]
	return nil
}

func (s *fakeStore) Pushed(_ context.Context, topic string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushedReads++
	return s.pushed[topic], nil
}

func (s *fakeStore) SetPushed(_ context.Context, topic string, p uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pushed == nil {
		s.pushed = map[string]uint64{}
	}
	s.pushed[topic] = max(s.pushed[topic], p)
	return nil
}

func (s *fakeStore) held(conn, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending[store.SubKey(conn, id)])
}

// Nudge: the fake's subscriptions are never catching up.
func (s *fakeStore) Nudge(_ context.Context, sub store.Subscription) (bool, uint64, error) {
	return true, sub.Cursor, nil

}

func (s *fakeStore) MarkQueued(_ context.Context, topics, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued == nil {
		s.queued = map[string]map[string]bool{}
	}
	for _, t := range topics {
		if s.queued[t] == nil {
			s.queued[t] = map[string]bool{}
		}
		for _, id := range ids {
			s.queued[t][id] = true
		}
	}
	return nil
}

func (s *fakeStore) MarkDone(_ context.Context, topics []string, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		delete(s.queued[t], id)
	}
	return nil
}

func (s *fakeStore) DeleteConnection(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletedConn = append(s.deletedConn, id)
	return nil
}

func (s *fakeStore) DeleteSubscription(_ context.Context, sub store.Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletedSub = append(s.deletedSub, sub.ConnectionID+"#"+sub.ID)
	return nil
}

// fakeAPI records posted frames per connection and fails as told.
type fakeAPI struct {
	mu     sync.Mutex
	frames map[string][]string
	calls  map[string]int
	// fail returns the error for the n-th call (from 1) to a connection.
	fail func(conn string, n int) error
}

func (a *fakeAPI) PostToConnection(_ context.Context, in *apigatewaymanagementapi.PostToConnectionInput, _ ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.frames == nil {
		a.frames, a.calls = map[string][]string{}, map[string]int{}
	}
	a.calls[*in.ConnectionId]++
	if a.fail != nil {
		if err := a.fail(*in.ConnectionId, a.calls[*in.ConnectionId]); err != nil {
			return nil, err
		}
	}
	a.frames[*in.ConnectionId] = append(a.frames[*in.ConnectionId], string(in.Data))
	return &apigatewaymanagementapi.PostToConnectionOutput{}, nil
}

func (a *fakeAPI) DeleteConnection(context.Context, *apigatewaymanagementapi.DeleteConnectionInput, ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error) {
	return &apigatewaymanagementapi.DeleteConnectionOutput{}, nil
}

func (a *fakeAPI) sent(conn string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.frames[conn]...)
}

const watchQuery = `subscription W($id: ID!) { it: itemChanged(id: $id) { id status viewer } }`

func sub(conn, id, itemID string, session string) store.Subscription {
	s := store.Subscription{Topic: "item:" + itemID, ConnectionID: conn, ID: id, Query: watchQuery, OperationName: "W", Variables: map[string]any{"id": itemID}}
	if session != "" {
		s.Session = json.RawMessage(session)
	}
	return s
}

func newFanout(t *testing.T, st *fakeStore, api *fakeAPI, root *rootResolver, mod func(*Config)) *Fanout {
	t.Helper()
	schema, err := graphql.ParseSchema(testSDL, root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Schema: schema,
		Topics: func(e change.Event) []string {
			var k struct{ ID string }
			_ = json.Unmarshal(e.Keys, &k)
			return []string{"item:" + k.ID}
		},
		Decode: func(rec events.DynamoDBEventRecord) (change.Event, error) {
			if rec.EventID == "bad" {
				return change.Event{}, errors.New("undecodable")
			}
			id := rec.Change.Keys["id"].String()
			status := rec.Change.NewImage["status"].String()
			return change.Event{
				ID: rec.EventID, Table: "items", Keys: json.RawMessage(`{"id":"` + id + `"}`),
				New: json.RawMessage(`{"id":"` + id + `","status":"` + status + `","blob":"` + strings.Repeat("x", len(rec.Change.NewImage["blob"].String())) + `"}`),
			}, nil
		},
		Store: st, Management: api, Backoff: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func itemEvent(id, status string) change.Event {
	return change.Event{ID: "ev-" + status, Table: "items", Keys: json.RawMessage(`{"id":"` + id + `"}`), New: json.RawMessage(`{"id":"` + id + `","status":"` + status + `","blob":""}`)}
}

func TestPublishRunsStoredOperation(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{
		"item:i1": {sub("c1", "s1", "i1", `{"sub":"ann"}`), sub("c2", "s9", "i1", `{"sub":"bob"}`)},
		"item:i2": {sub("c3", "s1", "i2", "")},
	}}
	api := &fakeAPI{}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil {
		t.Fatal(err)
	}
	if stats != (Stats{Matched: 2, Pushed: 2}) {
		t.Fatalf("stats = %+v", stats)
	}
	want := map[string]string{
		"c1": `{"id":"s1","type":"next","payload":{"data":{"it":{"id":"i1","status":"PAID","viewer":"ann"}}}}`,
		"c2": `{"id":"s9","type":"next","payload":{"data":{"it":{"id":"i1","status":"PAID","viewer":"bob"}}}}`,
	}
	for conn, frame := range want {
		if got := api.sent(conn); len(got) != 1 || got[0] != frame {
			t.Errorf("%s got %q, want %s", conn, got, frame)
		}
	}
	if got := api.sent("c3"); len(got) != 0 {
		t.Errorf("c3 (another item) got %q", got)
	}
}

func TestPublishSharesIdenticalOperations(t *testing.T) {
	var subs []store.Subscription
	for i := range 50 {
		subs = append(subs, sub(fmt.Sprintf("c%d", i), "1", "i1", ""))
	}
	root := &rootResolver{}
	api := &fakeAPI{}
	f := newFanout(t, &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}, api, root, nil)
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pushed != 50 || root.runs.Load() != 1 {
		t.Fatalf("pushed %d, resolver ran %d times; want 50 and 1", stats.Pushed, root.runs.Load())
	}
}

func TestPublishGoneConnectionIsCleanedUp(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {
		sub("gone", "a", "i1", ""), sub("gone", "b", "i1", `{"sub":"x"}`), sub("live", "a", "i1", ""),
	}}}
	api := &fakeAPI{fail: func(conn string, _ int) error {
		if conn == "gone" {
			return &apitypes.GoneException{Message: new(string)}
		}
		return nil
	}}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Gone != 1 || stats.Pushed != 1 {
		t.Fatalf("stats = %+v, want 1 gone, 1 pushed", stats)
	}
	if fmt.Sprint(st.deletedConn) != "[gone]" {
		t.Fatalf("deleted connections = %v, want [gone] once", st.deletedConn)
	}
	if len(api.sent("live")) != 1 {
		t.Fatalf("live got %v", api.sent("live"))
	}
}

func TestPublishRetries(t *testing.T) {
	serverErr := &smithy.GenericAPIError{Code: "InternalServerError", Fault: smithy.FaultServer}
	tests := []struct {
		name        string
		failures    int // failed calls before success
		wantPushed  int
		wantKept    int
		wantAttempt int
	}{
		{"recovers", 2, 1, 0, 3},
		{"gives up and keeps it", 100, 0, 1, 1 + DefaultRetries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("flaky", "a", "i1", ""), sub("ok", "a", "i1", "")}}}
			api := &fakeAPI{fail: func(conn string, n int) error {
				if conn == "flaky" && n <= tt.failures {
					return serverErr
				}
				return nil
			}}
			f := newFanout(t, st, api, &rootResolver{}, nil)
			stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
			if err != nil {
				t.Fatal(err)
			}
			if stats.Pushed != tt.wantPushed+1 || stats.Kept != tt.wantKept || stats.Failed != 0 || st.held("flaky", "a") != tt.wantKept {
				t.Fatalf("stats = %+v", stats)
			}
			api.mu.Lock()
			attempts := api.calls["flaky"]
			api.mu.Unlock()
			if attempts != tt.wantAttempt {
				t.Fatalf("%d attempts, want %d", attempts, tt.wantAttempt)
			}
			if len(api.sent("ok")) != 1 {
				t.Fatalf("the healthy subscriber got %v", api.sent("ok"))
			}
		})
	}
}

func TestPublishClientErrorIsNotRetried(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}}}
	api := &fakeAPI{fail: func(string, int) error { return &apitypes.ForbiddenException{} }}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	stats, _ := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if stats.Failed != 1 || api.calls["c"] != 1 || st.held("c", "a") != 0 {
		t.Fatalf("stats %+v after %d calls; want one failed call, not kept", stats, api.calls["c"])
	}
}

func TestPublishOversize(t *testing.T) {
	big := `subscription W($id: ID!) { it: itemChanged(id: $id) { id blob } }`
	s := sub("c1", "s1", "i1", "")
	s.Query = big
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {s, sub("c2", "s1", "i1", "")}}}
	api := &fakeAPI{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.MaxMessageBytes = 1024 })
	e := itemEvent("i1", "PAID")
	e.New = json.RawMessage(`{"id":"i1","status":"PAID","blob":"` + strings.Repeat("y", 2000) + `"}`)
	stats, err := f.Publish(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Oversize != 1 || stats.Pushed != 1 {
		t.Fatalf("stats = %+v", stats)
	}
	got := api.sent("c1")
	if len(got) != 1 || !strings.Contains(got[0], `"type":"error"`) || !strings.Contains(got[0], "PAYLOAD_TOO_LARGE") || !strings.Contains(got[0], `"id":"s1"`) {
		t.Fatalf("oversize subscriber got %q, want one error message", got)
	}
	if fmt.Sprint(st.deletedSub) != "[c1#s1]" {
		t.Fatalf("deleted subscriptions = %v", st.deletedSub)
	}
	if got := api.sent("c2"); len(got) != 1 || !strings.Contains(got[0], `"status":"PAID"`) {
		t.Fatalf("small subscriber got %q", got)
	}
}

func record(seq, eventID, id, status string) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{EventID: eventID, EventName: "MODIFY", Change: events.DynamoDBStreamRecord{
		SequenceNumber: seq,
		Keys:           map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(id)},
		NewImage: map[string]events.DynamoDBAttributeValue{
			"id": events.NewStringAttribute(id), "status": events.NewStringAttribute(status), "blob": events.NewStringAttribute(""),
		},
	}}
}

func TestHandleKeepsStreamOrder(t *testing.T) {
	var subs []store.Subscription
	for i := range 20 {
		subs = append(subs, sub(fmt.Sprintf("c%d", i), "1", "i1", fmt.Sprintf(`{"sub":"u%d"}`, i)))
	}
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	// Random slowness must not reorder one subscriber's pushes.
	api := &fakeAPI{fail: func(conn string, n int) error {
		time.Sleep(time.Duration((len(conn)*7+n*13)%5) * time.Millisecond)
		return nil
	}}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Concurrency = 8 })
	statuses := []string{"PLACED", "VALIDATED", "PAID", "APPROVED", "DRIVER_ASSIGNED"}
	var ev events.DynamoDBEvent
	for i, s := range statuses {
		ev.Records = append(ev.Records, record(fmt.Sprint(i+1), "e"+s, "i1", s))
	}
	resp, err := f.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	for _, s := range subs {
		frames := api.sent(s.ConnectionID)
		if len(frames) != len(statuses) {
			t.Fatalf("%s got %d frames, want %d", s.ConnectionID, len(frames), len(statuses))
		}
		for i, fr := range frames {
			if !strings.Contains(fr, `"status":"`+statuses[i]+`"`) {
				t.Fatalf("%s frame %d = %s, want status %s", s.ConnectionID, i, fr, statuses[i])
			}
		}
	}
}

func TestHandleReportsLookupFailureAndStops(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c1", "1", "i1", "")}}, failTopic: "item:i2"}
	api := &fakeAPI{}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	ev := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record("1", "a", "i1", "PLACED"),
		{EventID: "bad", Change: events.DynamoDBStreamRecord{SequenceNumber: "2"}},
		record("3", "b", "i2", "PLACED"),
		record("4", "c", "i1", "PAID"),
	}}
	resp, err := f.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, it := range resp.BatchItemFailures {
		failed = append(failed, it.ItemIdentifier)
	}
	if fmt.Sprint(failed) != "[3 4]" {
		t.Fatalf("batch item failures = %v, want [3 4]", failed)
	}
	// Record 4 is delivered again; its item's records run concurrently
	// with item i2's, so it may have been pushed before record 3 failed
	// (a duplicate after the retry, never a loss). Item i1's order holds.
	if got := api.sent("c1"); len(got) == 0 || !strings.Contains(got[0], "PLACED") || len(got) > 2 {
		t.Fatalf("c1 got %q, want PLACED first", got)
	}
}

// TestHandleRunsItemsConcurrently: the records of several items in one
// batch are pushed concurrently, and every subscriber still gets its
// item's changes in commit order.
func TestHandleRunsItemsConcurrently(t *testing.T) {
	statuses := []string{"PLACED", "VALIDATED", "PAID", "APPROVED", "DRIVER_ASSIGNED"}
	st := &fakeStore{subs: map[string][]store.Subscription{}}
	var ev events.DynamoDBEvent
	for k, s := range statuses {
		for i := range 8 {
			item := fmt.Sprintf("i%d", i)
			if k == 0 {
				st.subs["item:"+item] = []store.Subscription{sub("c-"+item, "1", item, "")}
			}
			ev.Records = append(ev.Records, record(fmt.Sprint(len(ev.Records)+1), fmt.Sprintf("e%d-%d", i, k), item, s))
		}
	}
	order := &fakeAPI{}
	api := &inFlightAPI{rec: order}
	f := newFanout(t, st, nil, &rootResolver{}, func(c *Config) { c.Management = api })
	resp, err := f.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	for i := range 8 {
		got := order.sent(fmt.Sprintf("c-i%d", i))
		if len(got) != len(statuses) {
			t.Fatalf("c-i%d got %d pushes", i, len(got))
		}
		for k, s := range statuses {
			if !strings.Contains(got[k], `"status":"`+s+`"`) {
				t.Fatalf("c-i%d push %d = %s, want %s", i, k, got[k], s)
			}
		}
	}
	if api.max.Load() < 2 {
		t.Fatalf("at most %d push in flight: the items were handled one after another", api.max.Load())
	}
}

// inFlightAPI holds each call 2 ms, counts the calls in flight, and
// records the frames in a fakeAPI.
type inFlightAPI struct {
	rec      *fakeAPI
	now, max atomic.Int64
}

func (a *inFlightAPI) DeleteConnection(context.Context, *apigatewaymanagementapi.DeleteConnectionInput, ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error) {
	return &apigatewaymanagementapi.DeleteConnectionOutput{}, nil
}

func (a *inFlightAPI) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	n := a.now.Add(1)
	for m := a.max.Load(); n > m && !a.max.CompareAndSwap(m, n); m = a.max.Load() {
	}
	time.Sleep(2 * time.Millisecond)
	a.now.Add(-1)
	return a.rec.PostToConnection(ctx, in, opts...)
}

func TestPublishSkipsNoOpWrites(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c1", "1", "i1", "")}}}
	api := &fakeAPI{}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	e := itemEvent("i1", "PAID")
	e.Operation = topology.Modify
	if stats, _ := f.Publish(context.Background(), e); stats.Matched != 0 || len(api.sent("c1")) != 0 {
		t.Fatalf("no-op write pushed: %+v %v", stats, api.sent("c1"))
	}
	e.Changed = []string{"status"}
	if stats, _ := f.Publish(context.Background(), e); stats.Pushed != 1 {
		t.Fatalf("change not pushed: %+v", stats)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New(Config{}) succeeded")
	}
}

// No push is made to a subscription whose connection's identity has
// expired: the fan-out checks each one against its clock.
func TestNoPushAfterExpiry(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	session := func(sub string) string {
		b, _ := json.Marshal(identity.Identity{Subject: sub, Expires: exp})
		return string(b)
	}
	st := &fakeStore{subs: map[string][]store.Subscription{
		"item:i1": {sub("c1", "s1", "i1", session("ann")), sub("c2", "s1", "i1", "")},
	}}
	api := &fakeAPI{}
	now := exp.Add(-time.Second)
	var mu sync.Mutex
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
	if err != nil || stats.Pushed != 2 || stats.Expired != 0 {
		t.Fatalf("before exp: %+v, %v", stats, err)
	}
	mu.Lock()
	now = exp
	mu.Unlock()
	stats, err = f.Publish(context.Background(), itemEvent("i1", "APPROVED"))
	if err != nil || stats.Pushed != 1 || stats.Expired != 1 {
		t.Fatalf("at exp: %+v, %v; want one push (no identity) and one expired", stats, err)
	}
	if got := api.sent("c1"); len(got) != 1 || !strings.Contains(got[0], `"viewer":"ann"`) {
		t.Fatalf("c1 got %q, want the push before exp only", got)
	}
}

// A session the fan-out cannot read is not run as anybody.
func TestUnreadableSessionIsNotRun(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c1", "s1", "i1", `{"sub":""}`)}}}
	api := &fakeAPI{}
	root := &rootResolver{}
	f := newFanout(t, st, api, root, nil)
	if stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID")); err != nil || stats.Pushed != 0 || root.runs.Load() != 0 {
		t.Fatalf("%+v, %v, %d runs", stats, err, root.runs.Load())
	}
}

// TestKeptPushesGoFirst: a push that failed after its retries is kept and
// delivered before the subscription's next push, in order, once.
func TestKeptPushesGoFirst(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}}}
	down := true
	api := &fakeAPI{fail: func(string, int) error {
		if down {
			return &smithy.GenericAPIError{Code: "InternalServerError", Fault: smithy.FaultServer}
		}
		return nil
	}}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	for _, status := range []string{"PAID", "APPROVED"} {
		stats, err := f.Publish(context.Background(), itemEvent("i1", status))
		if err != nil || stats.Kept != 1 {
			t.Fatalf("%s while down: %+v, %v", status, stats, err)
		}
	}
	api.mu.Lock()
	down = false
	api.mu.Unlock()
	stats, err := f.Publish(context.Background(), itemEvent("i1", "DRIVER_ASSIGNED"))
	if err != nil || stats.Pushed != 1 {
		t.Fatalf("back up: %+v, %v", stats, err)
	}
	var got []string
	for _, fr := range api.sent("c") {
		for _, s := range []string{"PAID", "APPROVED", "DRIVER_ASSIGNED"} {
			if strings.Contains(fr, `"status":"`+s+`"`) {
				got = append(got, s)
			}
		}
	}
	if strings.Join(got, " ") != "PAID APPROVED DRIVER_ASSIGNED" || st.held("c", "a") != 0 {
		t.Fatalf("delivered %v (%d still held), want PAID APPROVED DRIVER_ASSIGNED", got, st.held("c", "a"))
	}
}

// memLog is a topic log in memory.
type memLog struct {
	mu      sync.Mutex
	entries map[string][]eventlog.Entry
}

func (l *memLog) Append(_ context.Context, topic string, e change.Event) (eventlog.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = map[string][]eventlog.Entry{}
	}
	for _, en := range l.entries[topic] {
		if en.Event.ID == e.ID {
			return en.Position, nil
		}
	}
	p := eventlog.Position(1000 + len(l.entries[topic]))
	l.entries[topic] = append(l.entries[topic], eventlog.Entry{Topic: topic, Position: p, Event: e})
	return p, nil
}

func (l *memLog) Read(_ context.Context, topic string, after eventlog.Position, limit int) ([]eventlog.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after > 0 && after+1 < 1000 {
		return nil, eventlog.ErrExpired // before the log's first position
	}
	var out []eventlog.Entry
	for _, en := range l.entries[topic] {
		if en.Position > after && len(out) < limit {
			out = append(out, en)
		}
	}
	return out, nil
}

func statuses(frames []string) string {
	var got []string
	for _, fr := range frames {
		for _, s := range []string{"PAID", "APPROVED", "DRIVER_ASSIGNED"} {
			if strings.Contains(fr, `"status":"`+s+`"`) {
				got = append(got, s)
			}
		}
	}
	return strings.Join(got, " ")
}

// TestTopicOrder: the pushes of a topic follow its log even when its
// changes are published out of order (two stream shards): a change waits
// for the one before it, and takes it over from the log when it does not
// come in time; the late one is then not pushed again.
func TestTopicOrder(t *testing.T) {
	e1, e2, e3 := itemEvent("i1", "PAID"), itemEvent("i1", "APPROVED"), itemEvent("i1", "DRIVER_ASSIGNED")
	e1.ID, e2.ID, e3.ID = "e1", "e2", "e3"
	t.Run("waits for the change before", func(t *testing.T) {
		st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}}}
		api, log := &fakeAPI{}, &memLog{}
		f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Log, c.OrderWait = log, time.Minute })
		if _, err := f.Publish(context.Background(), e1); err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(context.Background(), "item:i1", e2); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := f.Publish(context.Background(), e3); done <- err }() // waits for e2
		// e3 is in the log, so it waits (it has nothing else to wait on).
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			if es, _ := log.Read(context.Background(), "item:i1", 0, 10); len(es) == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("e3 never appended")
			}
		}
		if _, err := f.Publish(context.Background(), e2); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := statuses(api.sent("c")); got != "PAID APPROVED DRIVER_ASSIGNED" {
			t.Fatalf("pushed %s", got)
		}
	})
	t.Run("a pushed position of an expired log holds nothing up", func(t *testing.T) {
		st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}}, pushed: map[string]uint64{"item:i1": 5}}
		api := &fakeAPI{}
		f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Log, c.OrderWait = &memLog{}, time.Hour })
		if stats, err := f.Publish(context.Background(), e1); err != nil || stats.Pushed != 1 || st.pushedReads != 0 {
			t.Fatalf("%+v, %v after %d reads of the pushed position; want pushed at once, without waiting", stats, err, st.pushedReads)
		}
		if st.pushed["item:i1"] != 1000 {
			t.Fatalf("pushed position %d, want the change's", st.pushed["item:i1"])
		}
	})
	t.Run("takes over what does not come", func(t *testing.T) {
		st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}}}
		api, log := &fakeAPI{}, &memLog{}
		f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Log, c.OrderWait = log, 100*time.Millisecond })
		if _, err := f.Publish(context.Background(), e1); err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(context.Background(), "item:i1", e2); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Publish(context.Background(), e3); err != nil {
			t.Fatal(err)
		}
		stats, err := f.Publish(context.Background(), e2) // late: pushed already
		if err != nil || stats.Pushed != 0 {
			t.Fatalf("the late change: %+v, %v", stats, err)
		}
		if got := statuses(api.sent("c")); got != "PAID APPROVED DRIVER_ASSIGNED" {
			t.Fatalf("pushed %s", got)
		}
	})
}

// TestMarkedTopicsAreRemembered: a change to a topic goes into its log
// when the topic is marked resumable, which the first change learns from
// the topic's audience; later changes append without that read, until
// shortly before the mark expires. An unmarked topic without subscribers
// is read every time and never appended to.
func TestMarkedTopicsAreRemembered(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	st := &fakeStore{
		subs:   map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}},
		marked: map[string]time.Time{"item:i1": now.Add(time.Hour), "item:i2": now.Add(30 * time.Second)},
	}
	api, log := &fakeAPI{}, &memLog{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Log = log })
	for i, status := range []string{"PAID", "APPROVED", "DRIVER_ASSIGNED"} {
		for _, item := range []string{"i1", "i2", "i3"} {
			e := itemEvent(item, status)
			e.ID = fmt.Sprintf("%s-%d", item, i)
			if _, err := f.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := statuses(api.sent("c")); got != "PAID APPROVED DRIVER_ASSIGNED" {
		t.Fatalf("pushed %s", got)
	}
	for topic, want := range map[string]struct{ reads, appended int }{
		"item:i1": {2 + 1 + 1, 3}, // read before and after the first append, then after each
		"item:i2": {2 * 3, 3},     // its mark expires within markSlack: read each time
		"item:i3": {3, 0},         // not marked, nobody subscribed: read, never appended
	} {
		es, _ := log.Read(ctx, topic, 0, 10)
		if st.audienceReads[topic] != want.reads || len(es) != want.appended {
			t.Errorf("%s: %d audience reads and %d appends, want %d and %d", topic, st.audienceReads[topic], len(es), want.reads, want.appended)
		}
	}
}

// The remembered marks stay bounded: a new topic past maxMarks makes the
// expired ones forgotten, or all of them when that frees too little; a
// read that finds a topic unmarked forgets it.
func TestMarksStayBounded(t *testing.T) {
	now := time.Now()
	marked := func(d time.Duration) store.Audience {
		return store.Audience{ResumableUntil: now.Add(d)}
	}
	var m marks
	for i := range maxMarks {
		d := time.Hour
		if i%2 == 0 {
			d = time.Second // within markSlack: as good as expired
		}
		m.remember(fmt.Sprint("t", i), marked(d), now)
	}
	m.remember("t1", marked(2*time.Hour), now) // known: no eviction
	if len(m.until) != maxMarks {
		t.Fatalf("%d marks after renewing a known one, want %d", len(m.until), maxMarks)
	}
	m.remember("new", marked(time.Hour), now)
	if len(m.until) != maxMarks/2+1 || !m.known("t1", now) || m.known("t0", now) || !m.known("new", now) {
		t.Fatalf("%d marks after a new topic past the bound, want the %d live ones and the new one", len(m.until), maxMarks/2)
	}
	for i := len(m.until); i <= maxMarks; i++ {
		m.remember(fmt.Sprint("more", i), marked(time.Hour), now)
	}
	if len(m.until) != 1 || !m.known(fmt.Sprint("more", maxMarks), now) {
		t.Fatalf("%d marks after filling up with live ones, want only the newest", len(m.until))
	}
	m.remember(fmt.Sprint("more", maxMarks), store.Audience{}, now)
	if len(m.until) != 0 {
		t.Fatalf("a topic read as unmarked is still remembered")
	}
}

// barrierLog is a memLog whose appends each wait until n have begun, or
// fail after a second.
type barrierLog struct {
	memLog
	n       int
	mu      sync.Mutex
	started int
	all     chan struct{}
}

func (l *barrierLog) Append(ctx context.Context, topic string, e change.Event) (eventlog.Position, error) {
	l.mu.Lock()
	if l.all == nil {
		l.all = make(chan struct{})
	}
	if l.started++; l.started == l.n {
		close(l.all)
	}
	all := l.all
	l.mu.Unlock()
	select {
	case <-all:
		return l.memLog.Append(ctx, topic, e)
	case <-time.After(time.Second):
		return 0, errors.New("the other topic's append did not begin meanwhile")
	}
}

// TestTopicsOfAChangeAtOnce: the topics of one change are made ready
// (appended to their logs, their audiences read) at once, so a change's
// latency is its slowest topic's; each topic's subscribers get the push
// with the cursor of its own log, and a failing topic fails the change.
func TestTopicsOfAChangeAtOnce(t *testing.T) {
	ctx := context.Background()
	st := &fakeStore{
		subs: map[string][]store.Subscription{
			"item:i1": {sub("c1", "a", "i1", "")},
			"also:i1": {{Topic: "also:i1", ConnectionID: "c2", ID: "b", Query: watchQuery, OperationName: "W", Variables: map[string]any{"id": "i1"}}},
		},
	}
	api, log := &fakeAPI{}, &barrierLog{n: 2}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) {
		c.Log = log
		c.Topics = func(change.Event) []string { return []string{"item:i1", "also:i1"} }
	})
	stats, err := f.Publish(ctx, itemEvent("i1", "PAID"))
	if err != nil || stats.Pushed != 2 {
		t.Fatalf("%+v, %v", stats, err)
	}
	for conn, topic := range map[string]string{"c1": "item:i1", "c2": "also:i1"} {
		if got := api.sent(conn); len(got) != 1 || !strings.Contains(got[0], realtime.EncodeCursor(topic, 1000)) {
			t.Errorf("%s: sent %v, want the push with %s's cursor", conn, got, topic)
		}
	}

	st.failTopic = "also:i1"
	if _, err := f.Publish(ctx, itemEvent("i1", "APPROVED")); err == nil || !strings.Contains(err.Error(), "also:i1") {
		t.Fatalf("a topic failing: %v", err)
	}
}
