package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/realtime/store"
)

type pushLog struct {
	mu    sync.Mutex
	calls int
	ps    []eventlog.Push
	err   error
}

func (l *pushLog) WritePushes(_ context.Context, ps ...eventlog.Push) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.ps = append(l.ps, ps...)
	return l.err
}

// Every push's outcome is recorded, one write per change, with the
// change's correlation id and causedBy.
func TestPushesAreRecorded(t *testing.T) {
	exp := time.Now().Add(-time.Minute)
	expired, _ := json.Marshal(identity.Identity{Subject: "old", Expires: exp})
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {
		sub("ok", "s1", "i1", ""),
		sub("gone", "s1", "i1", `{"sub":"x"}`),
		sub("broken", "s1", "i1", `{"sub":"y"}`),
		sub("late", "s1", "i1", string(expired)),
	}}}
	api := &fakeAPI{fail: func(conn string, _ int) error {
		switch conn {
		case "gone":
			return &apitypes.GoneException{Message: new(string)}
		case "broken":
			return &smithy.GenericAPIError{Code: "BadRequestException", Fault: smithy.FaultClient}
		}
		return nil
	}}
	log := &pushLog{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Pushes = log })
	e := itemEvent("i1", "PAID")
	e.CorrelationID, e.CausedBy = "req-1", "alice"
	stats, err := f.Publish(context.Background(), e)
	if err != nil || stats.Pushed != 1 || stats.Gone != 1 || stats.Failed != 1 || stats.Expired != 1 {
		t.Fatalf("stats %+v, %v", stats, err)
	}
	if log.calls != 1 || len(log.ps) != 4 {
		t.Fatalf("%d writes of %d pushes, want 1 of 4", log.calls, len(log.ps))
	}
	sort.Slice(log.ps, func(i, j int) bool { return log.ps[i].ConnectionID < log.ps[j].ConnectionID })
	want := map[string]eventlog.PushOutcome{"broken": eventlog.Failed, "gone": eventlog.Gone, "late": eventlog.Denied, "ok": eventlog.Pushed}
	for _, p := range log.ps {
		if p.Outcome != want[p.ConnectionID] || p.EventID != e.ID || p.Topic != "item:i1" || p.SubscriptionID != "s1" ||
			p.CorrelationID != "req-1" || p.CausedBy != "alice" || p.At.IsZero() {
			t.Errorf("push %+v, want outcome %s", p, want[p.ConnectionID])
		}
		if (p.Outcome == eventlog.Failed || p.Outcome == eventlog.Denied) != (p.Error != "") {
			t.Errorf("push to %s: error %q", p.ConnectionID, p.Error)
		}
	}
	if !strings.Contains(log.ps[0].Error, "BadRequestException") {
		t.Errorf("failed push error %q", log.ps[0].Error)
	}

	// A change nobody is pushed writes nothing; a failing log changes no
	// push.
	log2 := &pushLog{err: errors.New("throttled")}
	f2 := newFanout(t, st, &fakeAPI{}, &rootResolver{}, func(c *Config) { c.Pushes = log2 })
	if _, err := f2.Publish(context.Background(), itemEvent("other", "PAID")); err != nil || log2.calls != 0 {
		t.Fatalf("a change of no subscription: %v, %d writes", err, log2.calls)
	}
	if stats, err := f2.Publish(context.Background(), e); err != nil || stats.Pushed != 3 {
		t.Fatalf("with a failing log: %+v, %v", stats, err)
	}
}

// A restore's writes are not pushed: subscribers saw those changes when
// they happened.
func TestRestoreWritesAreNotPushed(t *testing.T) {
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c1", "s1", "i1", "")}}}
	api := &fakeAPI{}
	f := newFanout(t, st, api, &rootResolver{}, nil)
	restored := record("1", "ev-r", "i1", "PAID")
	restored.Change.NewImage[change.RestoreAttribute] = events.NewStringAttribute("restore-1/1")
	if _, err := f.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{restored, record("2", "ev-2", "i1", "APPROVED")}}); err != nil {
		t.Fatal(err)
	}
	if got := api.sent("c1"); len(got) != 1 || !strings.Contains(got[0], "APPROVED") {
		t.Fatalf("c1 got %q, want the app's change only", got)
	}
}

// The push worker records its pushes as the stream reader does: every
// push of a queued change once, with the change's correlation id and
// causedBy, one write per change and message, and the fan-out that
// queued the change records none of them.
func TestQueuedPushesAreRecordedByTheWorker(t *testing.T) {
	subs := manySubs("i1", 12, "c")
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	api, q := &fakeAPI{fail: func(conn string, _ int) error {
		if conn == "c003" {
			return &apitypes.GoneException{Message: new(string)}
		}
		return nil
	}}, &fakeQueue{}
	reader, worker := &pushLog{}, &pushLog{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { queued(q, 5, 3)(c); c.Pushes = reader })
	w := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Pushes = worker })
	e := itemEvent("i1", "PAID")
	e.CorrelationID, e.CausedBy = "req-2", "bob"
	if stats, err := f.Publish(context.Background(), e); err != nil || stats.Queued != 12 {
		t.Fatalf("stats %+v, %v: want 12 queued", stats, err)
	}
	if reader.calls != 0 {
		t.Fatalf("the stream reader wrote %d push records for a queued change", reader.calls)
	}
	msgs := q.len()
	resp, err := w.HandlePushes(context.Background(), q.take())
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("HandlePushes = %+v, %v", resp, err)
	}
	if worker.calls != msgs || len(worker.ps) != len(subs) {
		t.Fatalf("%d writes of %d pushes, want %d of %d", worker.calls, len(worker.ps), msgs, len(subs))
	}
	seen := map[string]bool{}
	for _, p := range worker.ps {
		want := eventlog.Pushed
		if p.ConnectionID == "c003" {
			want = eventlog.Gone
		}
		if seen[p.ConnectionID] || p.Outcome != want || p.EventID != e.ID || p.Topic != "item:i1" ||
			p.CorrelationID != "req-2" || p.CausedBy != "bob" || p.At.IsZero() {
			t.Errorf("push %+v, want one with outcome %s", p, want)
		}
		seen[p.ConnectionID] = true
	}
}

// A kept push is recorded as kept, and its later delivery, with the
// subscription's next push, as a second record (redelivered): ok when it
// arrived, failed when it was dropped as undeliverable. A subscription
// whose kept pushes another deliverer holds has the change's push kept
// too, and recorded so.
func TestKeptPushesAreRecordedWhenDelivered(t *testing.T) {
	ctx := context.Background()
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": {sub("c", "a", "i1", "")}}}
	var mode string // "down", "refuse the first", or "up"
	api := &fakeAPI{fail: func(_ string, _ int) error {
		switch mode {
		case "down":
			return &smithy.GenericAPIError{Code: "InternalServerError", Fault: smithy.FaultServer}
		case "refuse the first":
			mode = "up"
			return &smithy.GenericAPIError{Code: "BadRequestException", Fault: smithy.FaultClient}
		}
		return nil
	}}
	log := &pushLog{}
	f := newFanout(t, st, api, &rootResolver{}, func(c *Config) { c.Pushes = log })
	publish := func(status string) Stats {
		t.Helper()
		e := itemEvent("i1", status)
		e.CorrelationID = "req-" + status
		stats, err := f.Publish(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return stats
	}
	records := func() string {
		log.mu.Lock()
		defer log.mu.Unlock()
		var out []string
		for _, p := range log.ps {
			s := p.EventID + " " + string(p.Outcome)
			if p.Redelivered {
				s += " redelivered"
			}
			if p.CorrelationID != "req-"+strings.TrimPrefix(p.EventID, "ev-") {
				s += " with correlation id " + p.CorrelationID
			}
			out = append(out, s)
		}
		log.ps = nil
		return strings.Join(out, ", ")
	}

	mode = "down"
	publish("PAID")
	publish("APPROVED")
	if got := records(); got != "ev-PAID kept, ev-APPROVED kept" {
		t.Fatalf("while down: %s", got)
	}
	mode = "refuse the first" // PAID is dropped, the rest arrive
	if stats := publish("DRIVER_ASSIGNED"); stats.Pushed != 1 {
		t.Fatalf("back up: %+v", stats)
	}
	if got := records(); got != "ev-DRIVER_ASSIGNED ok, ev-PAID failed redelivered, ev-APPROVED ok redelivered" {
		t.Fatalf("back up: %s", got)
	}

	// Another deliverer holds the list: the change's push is kept.
	mode = "down"
	publish("DELIVERED")
	records()
	mode = "up"
	st.leased = true
	if stats := publish("RATED"); stats.Kept != 1 || stats.Pushed != 0 {
		t.Fatalf("the list held by another: %+v", stats)
	}
	if got := records(); got != "ev-RATED kept" {
		t.Fatalf("the list held by another: %s", got)
	}
}
