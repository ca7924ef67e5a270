package eventlog

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

// Log is the event log's port: what its writers (the bus subscriber that
// logs changes, the consumer, the realtime fan-out) and readers (the CLI,
// the console, replay, realtime resume) can do with it. DynamoStore and
// FileStore implement it and are held to one conformance suite
// (eventlogtest.Run). A component that uses part of it declares its own
// smaller interface.
type Log interface {
	// WriteChanges logs change events. A change is identified by its
	// event id: writing it again, concurrently or later, keeps one record.
	// Invalid events fail the whole call with errs.BadUserInput before
	// anything is written.
	WriteChanges(ctx context.Context, events ...change.Event) error
	// WriteDeliveries logs delivery attempts; one record per route,
	// message and attempt.
	WriteDeliveries(ctx context.Context, ds ...Delivery) error
	// WritePushes logs realtime pushes; one record per event, connection
	// and subscription.
	WritePushes(ctx context.Context, ps ...Push) error

	// Event is one change event with its deliveries and pushes, or
	// ErrNotFound.
	Event(ctx context.Context, id string) (EventRecord, error)
	// ItemHistory is every retained change of one item, oldest first (by
	// stream sequence number).
	ItemHistory(ctx context.Context, item ItemKey) ([]Change, error)
	// Trace is the causal chain of one request: the changes carrying the
	// correlation id, with their deliveries and pushes, in time order.
	Trace(ctx context.Context, correlationID string) ([]TraceEntry, error)
	// Recent is the latest changes, newest first.
	Recent(ctx context.Context, q RecentQuery) ([]Change, error)
	// Changes yields the retained changes the filter selects, oldest
	// first (by time, then sequence number): what replay reads. It stops
	// at the first error, which it yields.
	Changes(ctx context.Context, f Filter) iter.Seq2[Change, error]

	// Append gives a change the next position in a topic's log and
	// returns it. Positions are allocated atomically: entries become
	// visible in position order with no holes, also with several writers.
	// Appending the same event to the same topic again returns the
	// position it already has.
	Append(ctx context.Context, topic string, e change.Event) (Position, error)
	// Read returns up to limit entries of a topic after a position, in
	// order. after must be a position Append or Head gave (or 0: from the
	// oldest retained entry). When entries after it are no longer
	// retained, it fails with ErrExpired.
	Read(ctx context.Context, topic string, after Position, limit int) ([]Entry, error)
	// Head is the topic's latest position: reading after it returns what
	// is appended from then on. A topic without entries gets its first
	// position reserved, so that the answer stays valid.
	Head(ctx context.Context, topic string) (Position, error)
}

// Errors of the log; test with errors.Is. They carry errs codes.
var (
	// ErrNotFound: no record of that event.
	ErrNotFound = errs.New(errs.NotFound, "eventlog: no such event")
	// ErrExpired: the topic entries after the position are no longer
	// retained (or the position is from before the topic's current log):
	// a subscriber resuming from it must start over (RESYNC_REQUIRED).
	ErrExpired = errs.New(errs.FailedPrecondition, "eventlog: position expired")
	// ErrReadOnly: a write to a log opened read-only.
	ErrReadOnly = errs.New(errs.FailedPrecondition, "eventlog: opened read-only")
	// ErrLocked: another process holds the local log open for writing.
	ErrLocked = errs.New(errs.FailedPrecondition, "eventlog: another process writes this log")
	// ErrClosed: the store was closed.
	ErrClosed = errs.New(errs.FailedPrecondition, "eventlog: closed")
)

// RecentQuery selects the latest changes.
type RecentQuery struct {
	// Limit is how many at most; 0 means 100, and at most 1000.
	Limit int
	// Since, when set, leaves out changes before it.
	Since time.Time
}

func (q RecentQuery) limit() int { return clampLimit(q.Limit, 100, 1000) }

// Filter selects changes for Changes. The zero Filter selects every
// retained change.
type Filter struct {
	// Since (inclusive) and Until (exclusive) bound the changes' times;
	// zero means unbounded.
	Since, Until time.Time
	// Tables, when set, keeps changes of these tables only.
	Tables []string
	// Operations, when set, keeps these operations only.
	Operations []topology.Operation
	// Item, when set, keeps changes of this item only.
	Item ItemKey
}

// Match reports whether the filter selects c.
func (f Filter) Match(c Change) bool {
	at := c.At()
	switch {
	case !f.Since.IsZero() && at.Before(f.Since):
		return false
	case !f.Until.IsZero() && !at.Before(f.Until):
		return false
	case len(f.Tables) > 0 && !slices.Contains(f.Tables, c.Table):
		return false
	case len(f.Operations) > 0 && !slices.Contains(f.Operations, c.Operation):
		return false
	case !f.Item.IsZero() && f.Item != c.Item:
		return false
	}
	return true
}

// DefaultReadLimit is Read's limit when given 0; MaxReadLimit its largest.
const (
	DefaultReadLimit = 100
	MaxReadLimit     = 1000
)

func clampLimit(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// epochStart is the first position of a topic's log begun at now: the
// clock in microseconds, and past any position the topic had before. A
// topic whose log expired entirely starts again far above its old
// positions, so a cursor from before can never be mistaken for one of
// the new log (it reads as expired): positions grow by one per append, a
// topic cannot append a million times a second, and a log only expires
// after its retention without an append.
func epochStart(now time.Time, previous Position) Position {
	p := Position(now.UnixMicro())
	if p <= previous {
		p = previous + 1
	}
	return p
}

// sortTrace orders a trace in time; at the same instant a change comes
// before its deliveries and pushes.
func sortTrace(entries []TraceEntry) {
	rank := func(e TraceEntry) int {
		switch {
		case e.Change != nil:
			return 0
		case e.Delivery != nil:
			return 1
		}
		return 2
	}
	key := func(e TraceEntry) string {
		switch {
		case e.Change != nil:
			return e.Change.SequenceNumber + "#" + e.Change.ID
		case e.Delivery != nil:
			return e.Delivery.EventID + "#" + deliveryKey(*e.Delivery)
		}
		return e.Push.EventID + "#" + pushKey(*e.Push)
	}
	slices.SortStableFunc(entries, func(a, b TraceEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return cmp.Compare(key(a), key(b))
	})
}

// traceOf merges changes and their events' deliveries and pushes.
func traceOf(changes []Change, records map[string]EventRecord) []TraceEntry {
	var out []TraceEntry
	for i := range changes {
		c := &changes[i]
		out = append(out, TraceEntry{At: c.At(), Change: c})
		rec := records[c.ID]
		for j := range rec.Deliveries {
			out = append(out, TraceEntry{At: rec.Deliveries[j].At, Delivery: &rec.Deliveries[j]})
		}
		for j := range rec.Pushes {
			out = append(out, TraceEntry{At: rec.Pushes[j].At, Push: &rec.Pushes[j]})
		}
	}
	sortTrace(out)
	return out
}

// sortEventRecord puts an event's deliveries and pushes in time order.
func sortEventRecord(r *EventRecord) {
	slices.SortStableFunc(r.Deliveries, func(a, b Delivery) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(deliveryKey(a), deliveryKey(b))
	})
	slices.SortStableFunc(r.Pushes, func(a, b Push) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(pushKey(a), pushKey(b))
	})
}

// retention says when a record of a given time expires; zero keeps
// records forever.
type retention time.Duration

// expiresAt is when a record of time at stops being retained; the zero
// time for never.
func (r retention) expiresAt(at time.Time) time.Time {
	if r <= 0 {
		return time.Time{}
	}
	return at.Add(time.Duration(r))
}

// live reports whether a record of time at is still retained at now.
func (r retention) live(at, now time.Time) bool {
	return r <= 0 || now.Before(at.Add(time.Duration(r)))
}

// Both stores are the port.
var (
	_ Log = (*DynamoStore)(nil)
	_ Log = (*FileStore)(nil)
)
