// Package eventlogtest is the event log's conformance suite: one set of
// tests every implementation of eventlog.Log passes (the DynamoDB store on
// the emulator, the file store on disk), and the clock and fixtures they
// use.
//
// Run it from a test of the implementation:
//
//	eventlogtest.Run(t, eventlogtest.Backend{
//		Storage: func(t *testing.T, s eventlogtest.Settings) eventlogtest.Opener { ... },
//	})
package eventlogtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// Clock is a clock tests set and advance; Now is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock is a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Topology is the suite's app: a table keyed by a string, one keyed by a
// string and a number, and one keyed by binary.
var Topology = topology.Topology{
	App: "eventlogtest",
	Tables: []topology.Table{
		{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		{Name: "lines", PartitionKey: topology.Key{Name: "orderId", Type: topology.String}, SortKey: &topology.Key{Name: "lineNo", Type: topology.Number}, Stream: true},
		{Name: "blobs", PartitionKey: topology.Key{Name: "key", Type: topology.Binary}, Stream: true},
	},
}

// Settings are what the suite opens a store with.
type Settings struct {
	Topology topology.Topology
	// Retention is the store's retention; 0 means the store's default.
	Retention time.Duration
	// Now is the store's clock.
	Now func() time.Time
}

// Opener opens a store on one test's storage. Each call is another
// instance, as another process or Lambda would open it; close releases
// it (the file store's lock).
type Opener func(t *testing.T) (l eventlog.Log, close func())

// Backend is an implementation under test.
type Backend struct {
	// Storage makes fresh, empty storage for one test.
	Storage func(t *testing.T, s Settings) Opener
	// MultiWriter says two instances may write at once (DynamoDB: two
	// Lambdas). Without it the suite closes one before opening another.
	MultiWriter bool
}

// Run runs the suite against a backend.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"DuplicatesCollapse", testDuplicatesCollapse},
		{"NothingLost", testNothingLost},
		{"ItemHistoryBySequenceNumber", testItemHistory},
		{"TraceInTimeOrder", testTrace},
		{"RecentAndChanges", testRecentAndChanges},
		{"TopicPositionsContiguous", testTopicPositions},
		{"TopicAppendIdempotent", testTopicIdempotent},
		{"TopicHeadReserves", testTopicHead},
		{"Expiry", testExpiry},
		{"InvalidInput", testInvalidInput},
		{"Reopen", testReopen},
		{"KeptPushRedelivered", testKeptPushRedelivered},
		{"LargeEventReduced", testLargeEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, b)
		})
	}
}

// start is the suite's clock start: a whole second, as stream record
// times are.
func start() time.Time { return time.Now().UTC().Truncate(time.Second) }

// week is the retention of most tests: the reads of a DynamoDB store
// cover the days of its retention, and a week covers every test's data.
const week = 7 * 24 * time.Hour

func open(t *testing.T, b Backend, retention time.Duration, clock *Clock) (Opener, eventlog.Log) {
	t.Helper()
	opener := b.Storage(t, Settings{Topology: Topology, Retention: retention, Now: clock.Now})
	l, closeFn := opener(t)
	t.Cleanup(closeFn)
	return opener, l
}

// Order is a change of an order: keys {"id": id}. A change with a
// correlation id was caused by the subject "user-1".
func Order(eventID, orderID, seq string, at time.Time, correlationID string) change.Event {
	causedBy := ""
	if correlationID != "" {
		causedBy = "user-1"
	}
	return change.Event{
		ID: eventID, Table: "orders", Operation: topology.Modify,
		Keys:           json.RawMessage(fmt.Sprintf(`{"id":%q}`, orderID)),
		Old:            json.RawMessage(fmt.Sprintf(`{"id":%q,"status":"PLACED","total":12.50}`, orderID)),
		New:            json.RawMessage(fmt.Sprintf(`{"id":%q,"status":"PAID","total":12.50,"seq":%q}`, orderID, seq)),
		Changed:        []string{"seq", "status"},
		SequenceNumber: seq, ApproximateAt: at, CorrelationID: correlationID, CausedBy: causedBy,
	}
}

// Seq is a stream sequence number of 21 or more digits: n after a base
// that makes every one of them longer than 20 digits.
func Seq(n int) string { return fmt.Sprintf("4%020d", n) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustWrite(t *testing.T, l eventlog.Log, events ...change.Event) {
	t.Helper()
	if err := l.WriteChanges(ctx(t), events...); err != nil {
		t.Fatalf("write changes: %v", err)
	}
}

func allChanges(t *testing.T, l eventlog.Log, f eventlog.Filter) []eventlog.Change {
	t.Helper()
	var out []eventlog.Change
	for c, err := range l.Changes(ctx(t), f) {
		if err != nil {
			t.Fatalf("changes: %v", err)
		}
		out = append(out, c)
	}
	return out
}

func ids(cs []eventlog.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func countIDs(t *testing.T, cs []eventlog.Change) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, c := range cs {
		m[c.ID]++
	}
	return m
}

// sameEvent checks a logged change against the event written.
func sameEvent(t *testing.T, got eventlog.Change, want change.Event) {
	t.Helper()
	if got.ID != want.ID || got.Table != want.Table || got.Operation != want.Operation ||
		got.SequenceNumber != want.SequenceNumber || !got.ApproximateAt.Equal(want.ApproximateAt) ||
		got.CorrelationID != want.CorrelationID || got.CausedBy != want.CausedBy || !slices.Equal(got.Changed, want.Changed) {
		t.Fatalf("logged change %+v\nwant the event %+v", got.Event, want)
	}
	for _, pair := range [][2]json.RawMessage{{got.Keys, want.Keys}, {got.Old, want.Old}, {got.New, want.New}} {
		if !jsonEqual(pair[0], pair[1]) {
			t.Fatalf("event %s: logged %s, want %s", want.ID, pair[0], pair[1])
		}
	}
	if got.LoggedAt.IsZero() || got.Item.IsZero() {
		t.Fatalf("event %s: no loggedAt or item: %+v", want.ID, got)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	da, db := json.NewDecoder(strings.NewReader(string(a))), json.NewDecoder(strings.NewReader(string(b)))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xa) == string(yb)
}

func delivery(eventID, corr string, attempt int, outcome eventlog.Outcome, at time.Time) eventlog.Delivery {
	d := eventlog.Delivery{
		EventID: eventID, Route: "process-payment", Function: "processpayment", Attempt: attempt,
		Outcome: outcome, DurationMs: 12.5, At: at, MessageID: "msg-" + eventID, CorrelationID: corr, CausedBy: "alice",
	}
	if outcome != eventlog.OK {
		d.Error, d.Code = "provider timeout", errs.Unavailable
	}
	return d
}

func push(eventID, corr, sub string, at time.Time) eventlog.Push {
	return eventlog.Push{
		EventID: eventID, Topic: "order:" + eventID, ConnectionID: "conn-1", SubscriptionID: sub,
		Outcome: eventlog.Pushed, At: at, DurationMs: 3, CorrelationID: corr, CausedBy: "alice",
	}
}

func testDuplicatesCollapse(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	at := clock.Now()
	e1, e2, e3 := Order("ev-1", "ord_1", Seq(1), at, "req-1"), Order("ev-2", "ord_2", Seq(2), at, "req-1"), Order("ev-3", "ord_3", Seq(3), at, "")

	// Sequentially, concurrently, and twice in one call.
	mustWrite(t, l, e1)
	mustWrite(t, l, e1)
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			errc <- l.WriteChanges(c, e2)
			errc <- l.WriteDeliveries(c, delivery("ev-2", "req-1", 1, eventlog.OK, at))
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, l, e3, e3, e1)
	d := delivery("ev-1", "req-1", 1, eventlog.Retry, at)
	p := push("ev-1", "req-1", "sub-1", at)
	for range 2 {
		if err := l.WriteDeliveries(c, d, d); err != nil {
			t.Fatal(err)
		}
		if err := l.WritePushes(c, p, p); err != nil {
			t.Fatal(err)
		}
	}

	all := allChanges(t, l, eventlog.Filter{})
	if got := countIDs(t, all); len(all) != 3 || got["ev-1"] != 1 || got["ev-2"] != 1 || got["ev-3"] != 1 {
		t.Fatalf("changes %v, want ev-1, ev-2 and ev-3 once each", ids(all))
	}
	recent, err := l.Recent(c, eventlog.RecentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 3 {
		t.Fatalf("recent %v, want 3 changes", ids(recent))
	}
	for _, e := range []change.Event{e1, e2, e3} {
		rec, err := l.Event(c, e.ID)
		if err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		sameEvent(t, *rec.Change, e)
		item, _ := eventlog.ItemKeyOf(Topology, e)
		h, err := l.ItemHistory(c, item)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].ID != e.ID {
			t.Fatalf("history of %s: %v, want [%s]", item, ids(h), e.ID)
		}
	}
	rec, _ := l.Event(c, "ev-1")
	if len(rec.Deliveries) != 1 || len(rec.Pushes) != 1 {
		t.Fatalf("ev-1: %d deliveries, %d pushes; want 1 and 1", len(rec.Deliveries), len(rec.Pushes))
	}
	if got := rec.Deliveries[0]; got.Outcome != eventlog.Retry || got.Error != "provider timeout" || got.Code != errs.Unavailable || got.Attempt != 1 || got.DurationMs != 12.5 || !got.At.Equal(at) || got.CausedBy != "alice" || got.CorrelationID != "req-1" {
		t.Fatalf("delivery %+v", got)
	}
	if got := rec.Pushes[0]; got.SubscriptionID != "sub-1" || got.Topic != "order:ev-1" || got.Outcome != eventlog.Pushed || got.CausedBy != "alice" || got.CorrelationID != "req-1" {
		t.Fatalf("push %+v", got)
	}
	rec, _ = l.Event(c, "ev-2")
	if len(rec.Deliveries) != 1 {
		t.Fatalf("ev-2: %d deliveries written concurrently, want 1", len(rec.Deliveries))
	}
	tr, err := l.Trace(c, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 5 { // ev-1 with a delivery and a push, ev-2 with a delivery
		t.Fatalf("trace has %d entries, want 5: %v", len(tr), kinds(tr))
	}
}

func kinds(tr []eventlog.TraceEntry) []string {
	out := make([]string, len(tr))
	for i, e := range tr {
		switch {
		case e.Change != nil:
			out[i] = "change " + e.Change.ID
		case e.Delivery != nil:
			out[i] = fmt.Sprintf("delivery %s#%d", e.Delivery.EventID, e.Delivery.Attempt)
		default:
			out[i] = "push " + e.Push.EventID + " " + e.Push.SubscriptionID
		}
	}
	return out
}

func testNothingLost(t *testing.T, b Backend) {
	clock := NewClock(start())
	opener, l := open(t, b, week, clock)
	c := ctx(t)
	instances := []eventlog.Log{l}
	if b.MultiWriter {
		l2, closeFn := opener(t)
		t.Cleanup(closeFn)
		instances = append(instances, l2)
	}
	const n, writers = 200, 8
	events := make([]change.Event, n)
	for i := range events {
		events[i] = Order(fmt.Sprintf("ev-%03d", i), fmt.Sprintf("ord_%d", i%5), Seq(i), clock.Now().Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("req-%d", i%5))
	}
	// Each writer takes a shuffled share in batches of 1 to 30 (past
	// DynamoDB's 25 a request), and every event is written twice, by
	// writers of different store instances where the backend allows.
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []change.Event
			for i, e := range events {
				if i%writers == w || (i+1)%writers == w {
					mine = append(mine, e)
				}
			}
			rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				k := min(len(mine), 1+rng.IntN(30))
				if err := instances[w%len(instances)].WriteChanges(c, mine[:k]...); err != nil {
					errc <- err
					return
				}
				mine = mine[k:]
			}
			errc <- nil
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	all := allChanges(t, l, eventlog.Filter{})
	counts := countIDs(t, all)
	if len(all) != n || len(counts) != n {
		t.Fatalf("%d changes (%d distinct), want %d once each", len(all), len(counts), n)
	}
	for i, c := range all {
		if i > 0 && c.At().Before(all[i-1].At()) {
			t.Fatalf("changes out of time order at %d: %s before %s", i, all[i-1].At(), c.At())
		}
	}
	byID := map[string]eventlog.Change{}
	for _, c := range all {
		byID[c.ID] = c
	}
	for i, e := range events {
		sameEvent(t, byID[e.ID], e)
		if i%20 == 0 { // and found by id
			rec, err := l.Event(c, e.ID)
			if err != nil {
				t.Fatalf("event %s: %v", e.ID, err)
			}
			sameEvent(t, *rec.Change, e)
		}
	}
	total := 0
	for i := range 5 {
		h, err := l.ItemHistory(c, eventlog.ItemKey{Table: "orders", Partition: fmt.Sprintf("ord_%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		total += len(h)
	}
	if total != n {
		t.Fatalf("item histories hold %d changes, want %d", total, n)
	}
}

func testItemHistory(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	at := clock.Now() // one stream second: only the sequence numbers order them
	// In numeric order; as strings they sort otherwise.
	seqs := []string{
		"999999999999999999999",                    // 21 digits
		"1000000000000000000000",                   // 22
		"1000000000000000000001",                   // 22
		"9000000000000000000000",                   // 22
		"10000000000000000000000000000000000000",   // 38
		"9999999999999999999999999999999999999999", // 40
	}
	var events []change.Event
	for i, s := range seqs {
		events = append(events, Order(fmt.Sprintf("ev-%d", i), "ord/1", s, at, ""))
	}
	shuffled := slices.Clone(events)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, e := range shuffled {
		mustWrite(t, l, e)
	}
	mustWrite(t, l, Order("other", "ord_2", "5", at, ""))

	item, err := eventlog.ParseItemKey(Topology, "orders/ord%2F1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.ItemHistory(c, item)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(h), ids(asChanges(events)); !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v (numeric sequence order)", got, want)
	}
	for i, ch := range h {
		sameEvent(t, ch, events[i])
		if ch.Item != item || ch.Item.String() != "orders/ord%2F1" {
			t.Fatalf("item %q, want orders/ord%%2F1", ch.Item)
		}
	}

	// A composite key with a number, typed as users type it.
	line := func(id, seq string, lineNo string) change.Event {
		return change.Event{ID: id, Table: "lines", Operation: topology.Insert, SequenceNumber: seq, ApproximateAt: at,
			Keys: json.RawMessage(`{"orderId":"ord_1","lineNo":` + lineNo + `}`), New: json.RawMessage(`{"orderId":"ord_1","lineNo":` + lineNo + `}`)}
	}
	mustWrite(t, l, line("l-3", Seq(10), "3"), line("l-30", Seq(11), "30"), line("l-3b", Seq(12), "3"))
	for _, typed := range []string{"lines/ord_1/3", "lines/ord_1/3.0", "lines/ord_1/0.3e1"} {
		k, err := eventlog.ParseItemKey(Topology, typed)
		if err != nil {
			t.Fatalf("%s: %v", typed, err)
		}
		h, err := l.ItemHistory(c, k)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(h); !slices.Equal(got, []string{"l-3", "l-3b"}) {
			t.Fatalf("%s: history %v, want [l-3 l-3b]", typed, got)
		}
	}
	// Binary keys: base64 as the event carries it, URL-safe in the key.
	blob := change.Event{ID: "b-1", Table: "blobs", Operation: topology.Insert, SequenceNumber: Seq(20), ApproximateAt: at,
		Keys: json.RawMessage(`{"key":"+/8="}`), New: json.RawMessage(`{"key":"+/8="}`)}
	mustWrite(t, l, blob)
	k, err := eventlog.ParseItemKey(Topology, "blobs/-_8")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := l.ItemHistory(c, k); err != nil || len(h) != 1 || h[0].ID != "b-1" {
		t.Fatalf("blob history %v, %v; want [b-1]", ids(h), err)
	}
}

func asChanges(events []change.Event) []eventlog.Change {
	out := make([]eventlog.Change, len(events))
	for i, e := range events {
		out[i].Event = e
	}
	return out
}

func testTrace(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	t0 := clock.Now()
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// placeOrder writes c1; the fan-out pushes it; validate-order fails
	// once, then succeeds and writes c2, which is pushed and delivered.
	c1 := Order("c1", "ord_1", Seq(1), t0, "req-1")
	c2 := Order("c2", "ord_1", Seq(2), t0.Add(2*time.Second), "req-1")
	other := Order("x1", "ord_9", Seq(3), ms(1500), "req-2")
	d1 := delivery("c1", "req-1", 1, eventlog.Retry, ms(1000))
	d2 := delivery("c1", "req-1", 2, eventlog.OK, ms(1800))
	d3 := delivery("c2", "req-1", 1, eventlog.OK, ms(4000))
	p1 := push("c1", "req-1", "s1", ms(500))
	p2 := push("c2", "req-1", "s1", ms(2500))
	dx := delivery("x1", "req-2", 1, eventlog.OK, ms(1600))
	// Written out of order: deliveries and pushes before their changes.
	if err := l.WriteDeliveries(c, d3, d2, dx); err != nil {
		t.Fatal(err)
	}
	if err := l.WritePushes(c, p2); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, l, c2, other)
	if err := l.WritePushes(c, p1); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteDeliveries(c, d1); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, l, c1)

	tr, err := l.Trace(c, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"change c1", "push c1 s1", "delivery c1#1", "delivery c1#2", "change c2", "push c2 s1", "delivery c2#1"}
	if got := kinds(tr); !slices.Equal(got, want) {
		t.Fatalf("trace\n got %v\nwant %v", got, want)
	}
	for i := 1; i < len(tr); i++ {
		if tr[i].At.Before(tr[i-1].At) {
			t.Fatalf("trace out of time order at %d", i)
		}
	}
	if tr[0].Kind() != "change" || tr[1].Kind() != "push" || tr[2].Kind() != "delivery" {
		t.Fatalf("kinds %s %s %s", tr[0].Kind(), tr[1].Kind(), tr[2].Kind())
	}
	rec, err := l.Event(c, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Deliveries) != 2 || rec.Deliveries[0].Attempt != 1 || rec.Deliveries[1].Attempt != 2 || len(rec.Pushes) != 1 {
		t.Fatalf("event c1: deliveries %+v pushes %+v", rec.Deliveries, rec.Pushes)
	}
	if tr, err := l.Trace(c, "req-none"); err != nil || len(tr) != 0 {
		t.Fatalf("trace of an unknown request: %v, %v", kinds(tr), err)
	}
	if _, err := l.Event(c, "nope"); !errors.Is(err, eventlog.ErrNotFound) || errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown event: %v, want ErrNotFound", err)
	}
	// Deliveries logged before their change: the event is found.
	if err := l.WriteDeliveries(c, delivery("later", "req-3", 1, eventlog.OK, ms(10))); err != nil {
		t.Fatal(err)
	}
	if rec, err := l.Event(c, "later"); err != nil || rec.Change != nil || len(rec.Deliveries) != 1 {
		t.Fatalf("event with a delivery only: %+v, %v", rec, err)
	}
}

func testRecentAndChanges(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	t0 := clock.Now().Add(-10 * time.Minute)
	var events []change.Event
	for i := range 10 {
		e := Order(fmt.Sprintf("ev-%d", i), fmt.Sprintf("ord_%d", i%3), Seq(i), t0.Add(time.Duration(i)*time.Minute), "")
		if i%2 == 1 {
			e.Operation = topology.Insert
		}
		events = append(events, e)
	}
	// Two days back, too: reads cross day boundaries.
	old := Order("ev-old", "ord_0", Seq(0), t0.Add(-49*time.Hour), "")
	mustWrite(t, l, events[5:]...)
	mustWrite(t, l, old)
	mustWrite(t, l, events[:5]...)

	recent, err := l.Recent(c, eventlog.RecentQuery{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recent); !slices.Equal(got, []string{"ev-9", "ev-8", "ev-7"}) {
		t.Fatalf("recent 3: %v", got)
	}
	recent, err = l.Recent(c, eventlog.RecentQuery{Since: t0.Add(6 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recent); !slices.Equal(got, []string{"ev-9", "ev-8", "ev-7", "ev-6"}) {
		t.Fatalf("recent since: %v", got)
	}
	recent, err = l.Recent(c, eventlog.RecentQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 11 || recent[10].ID != "ev-old" {
		t.Fatalf("recent all: %v", ids(recent))
	}

	cases := []struct {
		name string
		f    eventlog.Filter
		want []string
	}{
		{"all", eventlog.Filter{}, []string{"ev-old", "ev-0", "ev-1", "ev-2", "ev-3", "ev-4", "ev-5", "ev-6", "ev-7", "ev-8", "ev-9"}},
		{"window", eventlog.Filter{Since: t0.Add(2 * time.Minute), Until: t0.Add(5 * time.Minute)}, []string{"ev-2", "ev-3", "ev-4"}},
		{"inserts", eventlog.Filter{Operations: []topology.Operation{topology.Insert}}, []string{"ev-1", "ev-3", "ev-5", "ev-7", "ev-9"}},
		{"item", eventlog.Filter{Item: eventlog.ItemKey{Table: "orders", Partition: "ord_1"}}, []string{"ev-1", "ev-4", "ev-7"}},
		{"other table", eventlog.Filter{Tables: []string{"lines"}}, nil},
		{"since old", eventlog.Filter{Since: t0.Add(-50 * time.Hour), Until: t0}, []string{"ev-old"}},
	}
	for _, tc := range cases {
		if got := ids(allChanges(t, l, tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Stopping early is allowed.
	n := 0
	for _, err := range l.Changes(c, eventlog.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
}

func testTopicPositions(t *testing.T, b Backend) {
	clock := NewClock(start())
	opener, l := open(t, b, week, clock)
	c := ctx(t)
	instances := []eventlog.Log{l}
	if b.MultiWriter {
		l2, closeFn := opener(t)
		t.Cleanup(closeFn)
		instances = append(instances, l2)
	}
	const perWriter, writers = 15, 4
	type got struct {
		pos eventlog.Position
		id  string
	}
	var (
		mu      sync.Mutex
		results []got
		wg      sync.WaitGroup
		errc    = make(chan error, writers+1)
		stop    = make(chan struct{})
	)
	// A reader tails the topic while it grows: what it sees must follow
	// on with no hole.
	first, err := l.Head(c, "orders")
	if err != nil {
		t.Fatal(err)
	}
	tailed := 0
	var tail sync.WaitGroup
	tail.Go(func() {
		after := first
		for {
			select {
			case <-stop:
				return
			default:
			}
			es, err := instances[len(instances)-1].Read(c, "orders", after, 10)
			if err != nil {
				errc <- fmt.Errorf("tail after %d: %w", after, err)
				return
			}
			if len(es) == 0 {
				// Nothing new: poll again shortly, without crowding
				// the writers out of a shared emulator.
				time.Sleep(5 * time.Millisecond)
			}
			for _, e := range es {
				if e.Position != after+1 {
					errc <- fmt.Errorf("tail: position %d after %d", e.Position, after)
					return
				}
				after = e.Position
				tailed++
			}
		}
	})
	for w := range writers {
		wg.Go(func() {
			inst := instances[w%len(instances)]
			for i := range perWriter {
				e := Order(fmt.Sprintf("w%d-%02d", w, i), "ord_1", Seq(w*100+i), clock.Now(), "")
				p, err := inst.Append(c, "orders", e)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				results = append(results, got{p, e.ID})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	tail.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(results, func(a, b got) int { return int(a.pos) - int(b.pos) })
	if len(results) != perWriter*writers {
		t.Fatalf("%d appends, want %d", len(results), perWriter*writers)
	}
	for i, r := range results {
		if r.pos != first+1+eventlog.Position(i) {
			t.Fatalf("positions not contiguous from %d: %d at index %d", first+1, r.pos, i)
		}
	}
	head, err := l.Head(c, "orders")
	if err != nil || head != results[len(results)-1].pos {
		t.Fatalf("head %d, %v; want %d", head, err, results[len(results)-1].pos)
	}
	// Reading in pages gives every entry once, in order.
	after, n := first, 0
	for {
		es, err := l.Read(c, "orders", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Position != results[n].pos || e.Event.ID != results[n].id || e.Topic != "orders" || e.AppendedAt.IsZero() {
				t.Fatalf("entry %d: %d %s, want %d %s", n, e.Position, e.Event.ID, results[n].pos, results[n].id)
			}
			n++
		}
		after = es[len(es)-1].Position
	}
	if n != len(results) {
		t.Fatalf("read %d entries, want %d", n, len(results))
	}
	es, err := l.Read(c, "orders", 0, 1000)
	if err != nil || len(es) != len(results) {
		t.Fatalf("read from 0: %d entries, %v", len(es), err)
	}
	if es, err := l.Read(c, "orders", head, 10); err != nil || len(es) != 0 {
		t.Fatalf("read after head: %d entries, %v", len(es), err)
	}
	if _, err := l.Read(c, "orders", head+5, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("read after a position never given: %v, want ErrExpired", err)
	}
	if tailed == 0 {
		t.Log("the tailing reader saw nothing before the writers finished")
	}
	// Another topic has its own positions.
	p, err := l.Append(c, "restaurant:r1", Order("w0-00", "ord_1", Seq(0), clock.Now(), ""))
	if err != nil {
		t.Fatal(err)
	}
	if es, err := l.Read(c, "restaurant:r1", p-1, 10); err != nil || len(es) != 1 || es[0].Event.ID != "w0-00" {
		t.Fatalf("other topic: %v, %v", es, err)
	}
}

func testTopicIdempotent(t *testing.T, b Backend) {
	clock := NewClock(start())
	opener, l := open(t, b, week, clock)
	c := ctx(t)
	e := Order("ev-1", "ord_1", Seq(1), clock.Now(), "")
	p1, err := l.Append(c, "t", e)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := l.Append(c, "t", e)
	if err != nil || p2 != p1 {
		t.Fatalf("retry: %d, %v; want %d", p2, err, p1)
	}
	instances := []eventlog.Log{l}
	if b.MultiWriter {
		l2, closeFn := opener(t)
		t.Cleanup(closeFn)
		instances = append(instances, l2)
	}
	// Concurrent retries of a new event: one position for all.
	e2 := Order("ev-2", "ord_1", Seq(2), clock.Now(), "")
	var wg sync.WaitGroup
	positions := make([]eventlog.Position, 8)
	errList := make([]error, 8)
	for i := range positions {
		wg.Go(func() { positions[i], errList[i] = instances[i%len(instances)].Append(c, "t", e2) })
	}
	wg.Wait()
	for i := range positions {
		if errList[i] != nil || positions[i] != p1+1 {
			t.Fatalf("concurrent append %d: %d, %v; want %d", i, positions[i], errList[i], p1+1)
		}
	}
	head, err := l.Head(c, "t")
	if err != nil || head != p1+1 {
		t.Fatalf("head %d, %v; want %d (retries take no position)", head, err, p1+1)
	}
	es, err := l.Read(c, "t", p1-1, 10)
	if err != nil || len(es) != 2 || es[0].Event.ID != "ev-1" || es[1].Event.ID != "ev-2" {
		t.Fatalf("read: %+v, %v", es, err)
	}
	sameEvent(t, eventlog.Change{Event: es[0].Event, Item: eventlog.ItemKey{Table: "x", Partition: "y"}, LoggedAt: es[0].AppendedAt}, e)
	// The same event in another topic is another entry.
	if p, err := l.Append(c, "u", e); err != nil || p == 0 {
		t.Fatalf("other topic: %d, %v", p, err)
	}
}

func testTopicHead(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	h, err := l.Head(c, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if h2, err := l.Head(c, "empty"); err != nil || h2 != h {
		t.Fatalf("second head %d, %v; want %d", h2, err, h)
	}
	if es, err := l.Read(c, "empty", h, 10); err != nil || len(es) != 0 {
		t.Fatalf("read an empty topic: %v, %v", es, err)
	}
	clock.Advance(time.Second)
	p, err := l.Append(c, "empty", Order("ev-1", "ord_1", Seq(1), clock.Now(), ""))
	if err != nil || p != h+1 {
		t.Fatalf("first append %d, %v; want %d (the position Head reserved)", p, err, h+1)
	}
	es, err := l.Read(c, "empty", h, 10)
	if err != nil || len(es) != 1 || es[0].Position != p {
		t.Fatalf("read after the reserved head: %v, %v", es, err)
	}
	if _, err := l.Read(c, "empty", h-1, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("read from before the topic's log: %v, want ErrExpired", err)
	}
	if es, err := l.Read(c, "never", 0, 10); err != nil || len(es) != 0 {
		t.Fatalf("read an unknown topic from 0: %v, %v", es, err)
	}
	if _, err := l.Read(c, "never", 42, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("read an unknown topic after a position: %v, want ErrExpired", err)
	}
}

func testExpiry(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, time.Hour, clock)
	c := ctx(t)
	t0 := clock.Now()
	e1 := Order("ev-1", "ord_1", Seq(1), t0, "req-1")
	mustWrite(t, l, e1)
	if err := l.WriteDeliveries(c, delivery("ev-1", "req-1", 1, eventlog.OK, t0)); err != nil {
		t.Fatal(err)
	}
	if err := l.WritePushes(c, push("ev-1", "req-1", "s", t0)); err != nil {
		t.Fatal(err)
	}
	p1, err := l.Append(c, "t", e1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := l.Append(c, "t", Order("ev-1b", "ord_1", Seq(2), t0, ""))
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(30 * time.Minute)
	e2 := Order("ev-2", "ord_1", Seq(3), clock.Now(), "req-1")
	mustWrite(t, l, e2)
	p3, err := l.Append(c, "t", e2)
	if err != nil || p3 != p2+1 {
		t.Fatalf("append %d, %v; want %d", p3, err, p2+1)
	}
	// A change already older than the retention is not kept.
	mustWrite(t, l, Order("ev-ancient", "ord_1", Seq(0), t0.Add(-2*time.Hour), "req-1"))

	clock.Advance(45 * time.Minute) // ev-1 and its records are 75 minutes old
	if _, err := l.Event(c, "ev-1"); !errors.Is(err, eventlog.ErrNotFound) {
		t.Fatalf("expired event: %v, want ErrNotFound", err)
	}
	if _, err := l.Event(c, "ev-ancient"); !errors.Is(err, eventlog.ErrNotFound) {
		t.Fatalf("event logged past its retention: %v, want ErrNotFound", err)
	}
	h, err := l.ItemHistory(c, eventlog.ItemKey{Table: "orders", Partition: "ord_1"})
	if err != nil || !slices.Equal(ids(h), []string{"ev-2"}) {
		t.Fatalf("history %v, %v; want [ev-2]", ids(h), err)
	}
	if got := ids(allChanges(t, l, eventlog.Filter{})); !slices.Equal(got, []string{"ev-2"}) {
		t.Fatalf("changes %v, want [ev-2]", got)
	}
	if r, err := l.Recent(c, eventlog.RecentQuery{}); err != nil || !slices.Equal(ids(r), []string{"ev-2"}) {
		t.Fatalf("recent %v, %v; want [ev-2]", ids(r), err)
	}
	if tr, err := l.Trace(c, "req-1"); err != nil || len(tr) != 1 || tr[0].Change.ID != "ev-2" {
		t.Fatalf("trace %v, %v; want [change ev-2]", kinds(tr), err)
	}
	if _, err := l.Read(c, "t", p1-1, 10); !errors.Is(err, eventlog.ErrExpired) || errs.CodeOf(err) != errs.FailedPrecondition {
		t.Fatalf("read from an expired position: %v, want ErrExpired", err)
	}
	if _, err := l.Read(c, "t", p1, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("read after an expired entry: %v, want ErrExpired", err)
	}
	if es, err := l.Read(c, "t", p2, 10); err != nil || len(es) != 1 || es[0].Position != p3 {
		t.Fatalf("read after the last expired entry: %v, %v; want [%d]", es, err, p3)
	}
	if es, err := l.Read(c, "t", 0, 10); err != nil || len(es) != 1 || es[0].Position != p3 {
		t.Fatalf("read from 0: %v, %v; want [%d]", es, err, p3)
	}
	// An expired event can be appended again: it is a new entry.
	if p, err := l.Append(c, "t", e1); err != nil || p != p3+1 {
		t.Fatalf("append of an expired entry's event: %d, %v; want %d", p, err, p3+1)
	}

	clock.Advance(2 * time.Hour) // the topic's whole log expired
	if _, err := l.Read(c, "t", p3+1, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("read from an expired log: %v, want ErrExpired", err)
	}
	if r, err := l.Recent(c, eventlog.RecentQuery{}); err != nil || len(r) != 0 {
		t.Fatalf("recent after everything expired: %v, %v", ids(r), err)
	}
	head, err := l.Head(c, "t")
	if err != nil || head <= p3+1 {
		t.Fatalf("new head %d, %v; want past the old positions (%d)", head, err, p3+1)
	}
	if _, err := l.Read(c, "t", p3+1, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("old position in the new log: %v, want ErrExpired", err)
	}
	if p, err := l.Append(c, "t", e1); err != nil || p != head+1 {
		t.Fatalf("append to the new log: %d, %v; want %d", p, err, head+1)
	}
}

func testInvalidInput(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	good := Order("good", "ord_1", Seq(1), clock.Now(), "")
	bad := map[string]change.Event{}
	e := good
	e.ID = ""
	bad["no id"] = e
	e = good
	e.SequenceNumber = "12a"
	bad["bad sequence number"] = e
	e = good
	e.SequenceNumber = strings.Repeat("9", 41)
	bad["long sequence number"] = e
	e = good
	e.Table = "nope"
	bad["unknown table"] = e
	e = good
	e.Keys = json.RawMessage(`{"other":"x"}`)
	bad["keys without the partition key"] = e
	e = good
	e.Operation = "UPSERT"
	bad["bad operation"] = e
	for name, e := range bad {
		err := l.WriteChanges(c, good, e)
		if errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("%s: %v, want %s", name, err, errs.BadUserInput)
		}
	}
	if _, err := l.Event(c, "good"); !errors.Is(err, eventlog.ErrNotFound) {
		t.Fatalf("a call with an invalid event wrote its valid one: %v", err)
	}
	d := delivery("good", "", 1, eventlog.OK, clock.Now())
	for name, mod := range map[string]func(*eventlog.Delivery){
		"no function": func(d *eventlog.Delivery) { d.Function = "" },
		"attempt 0":   func(d *eventlog.Delivery) { d.Attempt = 0 },
		"outcome":     func(d *eventlog.Delivery) { d.Outcome = "fine" },
		"no message":  func(d *eventlog.Delivery) { d.MessageID = "" },
	} {
		bd := d
		mod(&bd)
		if err := l.WriteDeliveries(c, bd); errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("delivery with %s: %v", name, err)
		}
	}
	p := push("good", "", "s", clock.Now())
	p.Outcome = "maybe"
	if err := l.WritePushes(c, p); errs.CodeOf(err) != errs.BadUserInput {
		t.Errorf("push outcome: %v", err)
	}
	if _, err := l.Append(c, "", good); errs.CodeOf(err) != errs.BadUserInput {
		t.Errorf("empty topic: %v", err)
	}
	if _, err := l.Append(c, strings.Repeat("t", eventlog.MaxTopicBytes+1), good); errs.CodeOf(err) != errs.BadUserInput {
		t.Errorf("long topic: %v", err)
	}
	if _, err := l.ItemHistory(c, eventlog.ItemKey{}); errs.CodeOf(err) != errs.BadUserInput {
		t.Errorf("history of no item: %v", err)
	}
}

func testReopen(t *testing.T, b Backend) {
	clock := NewClock(start())
	opener := b.Storage(t, Settings{Topology: Topology, Now: clock.Now})
	c := ctx(t)
	l, closeFn := opener(t)
	e := Order("ev-1", "ord_1", Seq(1), clock.Now(), "req-1")
	mustWrite(t, l, e)
	if err := l.WriteDeliveries(c, delivery("ev-1", "req-1", 1, eventlog.OK, clock.Now())); err != nil {
		t.Fatal(err)
	}
	p, err := l.Append(c, "t", e)
	if err != nil {
		t.Fatal(err)
	}
	closeFn()

	l, closeFn = opener(t)
	defer closeFn()
	rec, err := l.Event(c, "ev-1")
	if err != nil || rec.Change == nil || len(rec.Deliveries) != 1 {
		t.Fatalf("after reopening: %+v, %v", rec, err)
	}
	sameEvent(t, *rec.Change, e)
	if again, err := l.Append(c, "t", e); err != nil || again != p {
		t.Fatalf("append retried after reopening: %d, %v; want %d", again, err, p)
	}
	next, err := l.Append(c, "t", Order("ev-2", "ord_1", Seq(2), clock.Now(), ""))
	if err != nil || next != p+1 {
		t.Fatalf("append after reopening: %d, %v; want %d", next, err, p+1)
	}
	mustWrite(t, l, e) // still one record
	if all := allChanges(t, l, eventlog.Filter{}); len(all) != 1 {
		t.Fatalf("changes after reopening and rewriting: %v", ids(all))
	}
}

// testKeptPushRedelivered: a push kept when its delivery failed and its
// later delivery are two records of one push, each written once however
// often it is written, also after the log is opened again.
func testKeptPushRedelivered(t *testing.T, b Backend) {
	clock := NewClock(start())
	opener := b.Storage(t, Settings{Topology: Topology, Now: clock.Now})
	c := ctx(t)
	l, closeFn := opener(t)
	mustWrite(t, l, Order("ev-1", "ord_1", Seq(1), clock.Now(), "req-1"))
	kept := push("ev-1", "req-1", "sub-1", clock.Now())
	kept.Outcome, kept.Error = eventlog.Kept, "post: 500"
	later := push("ev-1", "req-1", "sub-1", clock.Now().Add(time.Second))
	later.Redelivered = true
	for _, ps := range [][]eventlog.Push{{kept}, {kept, later}, {later}} {
		if err := l.WritePushes(c, ps...); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		rec, err := l.Event(c, "ev-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Pushes) != 2 || rec.Pushes[0].Outcome != eventlog.Kept || rec.Pushes[0].Redelivered ||
			rec.Pushes[1].Outcome != eventlog.Pushed || !rec.Pushes[1].Redelivered || rec.Pushes[1].SubscriptionID != "sub-1" {
			t.Fatalf("%s: pushes %+v, want the kept one, then its redelivery", when, rec.Pushes)
		}
	}
	check("written")
	closeFn()
	l, closeFn = opener(t)
	defer closeFn()
	if err := l.WritePushes(c, later, kept); err != nil {
		t.Fatal(err)
	}
	check("after reopening and rewriting")
}

func testLargeEvent(t *testing.T, b Backend) {
	clock := NewClock(start())
	_, l := open(t, b, week, clock)
	c := ctx(t)
	e := Order("big", "ord_1", Seq(1), clock.Now(), "")
	e.New = json.RawMessage(`{"id":"ord_1","notes":"` + strings.Repeat("x", eventlog.MaxRecordBytes) + `"}`)
	mustWrite(t, l, e)
	rec, err := l.Event(c, "big")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Change.Reduced || len(rec.Change.New) != 0 || len(rec.Change.Old) != 0 || !jsonEqual(rec.Change.Keys, e.Keys) {
		t.Fatalf("large event logged as %+v, want it reduced to its keys", rec.Change.Event)
	}
	p, err := l.Append(c, "t", e)
	if err != nil {
		t.Fatal(err)
	}
	es, err := l.Read(c, "t", p-1, 1)
	if err != nil || len(es) != 1 || !es[0].Event.Reduced || len(es[0].Event.New) != 0 || es[0].Event.ID != "big" {
		t.Fatalf("large topic entry: %v, %v; want it reduced to its keys", es, err)
	}
}
