package tests

// End-to-end tests of the event log: fed through the framework's
// eventlog route, recording every delivery, read by the threefactor
// CLI, restoring and redelivering.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/replay"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/harness"
)

// loggedChanges reads every change of the log, oldest first.
func loggedChanges(t testing.TB, l eventlog.Log) []eventlog.Change {
	t.Helper()
	var out []eventlog.Change
	for c, err := range l.Changes(context.Background(), eventlog.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// A burst of 200 new orders, and a few whose functions fail: the log
// holds every change exactly once per event id, even when the eventlog
// route delivers them all a second time, with every delivery attempt and
// its outcome: ok, retried then ok, dead-lettered by the redrive policy
// after the route's receive count, dead-lettered at once as permanent.
// The routes the log says each event was delivered to are the routes
// whose patterns match it (topology.Matches, which replay relies on).
func TestEventLogBurst(t *testing.T) {
	const burst = 200
	p := newPipeline(t, "logburst")
	l := p.WithEventLog(t)

	var mu sync.Mutex
	seen := map[string]map[string]int{} // route -> event id -> handled
	note := func(route, id string) int {
		mu.Lock()
		defer mu.Unlock()
		if seen[route] == nil {
			seen[route] = map[string]int{}
		}
		seen[route][id]++
		return seen[route][id]
	}
	p.Consume(t, "bulk", false, func(_ context.Context, e change.Event) error { note("bulk", e.ID); return nil })
	p.Consume(t, "flaky", false, func(_ context.Context, e change.Event) error {
		if note("flaky", e.ID) == 1 {
			return errors.New("flaky: first attempt fails")
		}
		return nil
	})
	p.Consume(t, "poison", false, func(_ context.Context, e change.Event) error {
		note("poison", e.ID)
		return errors.New("poison: always fails")
	})
	p.Consume(t, "permanent", false, func(_ context.Context, e change.Event) error {
		note("permanent", e.ID)
		return errs.Permanent(errs.New(errs.FailedPrecondition, "permanent: cannot be done"))
	})
	p.Start(t)
	start := time.Now()

	kinds := map[string]int{"bulk": burst, "flaky": 3, "poison": 2, "permanent": 2}
	total := 0
	var wg sync.WaitGroup
	ids := make(chan [2]string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				put(t, p, id[0], map[string]string{"kind": id[1]})
			}
		}()
	}
	for kind, n := range kinds {
		for i := range n {
			ids <- [2]string{fmt.Sprintf("%s-%03d", kind, i), kind}
			total++
		}
	}
	close(ids)
	wg.Wait()
	t.Logf("%d items written in %s", total, time.Since(start).Round(time.Millisecond))

	// Final: every change logged; every route done with each of its events.
	done := func() bool {
		changes := loggedChanges(t, l)
		if len(changes) < total {
			return false
		}
		for _, c := range changes {
			rec, err := l.Event(context.Background(), c.ID)
			if err != nil {
				return false
			}
			final := false
			for _, d := range rec.Deliveries {
				final = final || replay.Final(d.Outcome)
			}
			if !final {
				return false
			}
		}
		return true
	}
	harness.WaitFor(t, 5*time.Minute, "every change logged and finally delivered", done)
	t.Logf("logged and delivered after %s", time.Since(start).Round(time.Millisecond))

	// The eventlog route delivers everything once more (at least once):
	// nothing is logged twice.
	logQueue, _ := p.Route(topology.EventLogRoute)
	var again []change.Event
	for _, c := range loggedChanges(t, l) {
		again = append(again, c.Event)
	}
	if err := replay.Send(context.Background(), p.SQS, logQueue, p.Topo, again, p.AWS.Region, ""); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 2*time.Minute, "the eventlog queue drained", func() bool { return harness.Depth(t, p.SQS, logQueue) == 0 })
	t.Logf("redelivered to the log after %s", time.Since(start).Round(time.Millisecond))

	changes := loggedChanges(t, l)
	if len(changes) != total {
		t.Fatalf("%d changes logged, want %d", len(changes), total)
	}
	byID := map[string]eventlog.Change{}
	for _, c := range changes {
		if _, dup := byID[c.ID]; dup {
			t.Fatalf("event %s logged twice", c.ID)
		}
		byID[c.ID] = c
		if c.Operation != topology.Insert || c.Item.Table != "orders" || len(c.New) == 0 {
			t.Errorf("change %+v", c)
		}
	}
	// Every event a function handled is in the log.
	mu.Lock()
	for route, evs := range seen {
		for id := range evs {
			if _, ok := byID[id]; !ok {
				t.Errorf("route %s handled event %s, which is not in the log", route, id)
			}
		}
	}
	if len(seen["bulk"]) != burst {
		t.Errorf("bulk handled %d events, want %d", len(seen["bulk"]), burst)
	}
	mu.Unlock()

	// Each event's attempts, by kind.
	want := map[string][]eventlog.Outcome{
		"bulk":      {eventlog.OK},
		"flaky":     {eventlog.Retry, eventlog.OK},
		"poison":    {eventlog.Retry, eventlog.Retry, eventlog.DeadLettered},
		"permanent": {eventlog.DeadLettered},
	}
	patterns := map[string]*topology.Pattern{}
	for _, r := range p.Topo.RoutesWithDefaults() {
		pt, err := p.Topo.CompilePattern(r)
		if err != nil {
			t.Fatal(err)
		}
		patterns[r.Name] = pt
	}
	counts := map[eventlog.Outcome]int{}
	for _, c := range changes {
		kind := harness.Image(t, c.New)["kind"].(string)
		rec, err := l.Event(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []eventlog.Outcome
		routes := map[string]bool{}
		for _, d := range rec.Deliveries {
			got = append(got, d.Outcome)
			routes[d.Route] = true
			counts[d.Outcome]++
			if d.Function != kind && !(kind == "bulk" && d.Function == "bulk") || d.CorrelationID != c.CorrelationID || d.MessageID == "" || d.DurationMs < 0 {
				t.Errorf("%s: delivery %+v", c.ID, d)
			}
			if d.Outcome != eventlog.OK && d.Error == "" {
				t.Errorf("%s: a %s delivery without its error", c.ID, d.Outcome)
			}
		}
		// Attempts in order, each once. (SQS counts a receive that never
		// reached the function, such as one cut short by a client timeout:
		// an attempt number may be skipped.)
		sort.SliceStable(rec.Deliveries, func(i, j int) bool { return rec.Deliveries[i].Attempt < rec.Deliveries[j].Attempt })
		got = got[:0]
		for i, d := range rec.Deliveries {
			got = append(got, d.Outcome)
			if i > 0 && d.Attempt <= rec.Deliveries[i-1].Attempt {
				t.Errorf("%s: attempt %d recorded twice", c.ID, d.Attempt)
			}
		}
		if !slices.Equal(got, want[kind]) {
			t.Errorf("%s (%s): outcomes %v, want %v", c.ID, kind, got, want[kind])
		}
		detail, err := c.Event.Detail()
		if err != nil {
			t.Fatal(err)
		}
		for name, pt := range patterns {
			if name == topology.EventLogRoute {
				continue
			}
			match, err := pt.MatchDetail(detail)
			if err != nil {
				t.Fatal(err)
			}
			if match != routes[name] {
				t.Errorf("%s: pattern of %s matches %v, but the log has deliveries to it: %v", c.ID, name, match, routes[name])
			}
		}
	}
	t.Logf("%d changes, deliveries by outcome: %v", len(changes), counts)
}

// A consumer of a route whose log writes fail still handles its
// messages: the log is best effort for deliveries.
var _ consumer.DeliveryLog = (*eventlog.FileStore)(nil)
