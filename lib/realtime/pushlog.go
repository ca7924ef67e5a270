package realtime

import (
	"context"
	"log/slog"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime/store"
)

// PushLog is the part of the event log pushes are recorded in (an
// eventlog.Log): the fan-out records each push of a change, a catch-up
// each change it delivers.
type PushLog interface {
	WritePushes(ctx context.Context, ps ...eventlog.Push) error
}

// DefaultPushLogTimeout bounds a write of push records: they are best
// effort, and a failing or slow log never holds up a push longer.
const DefaultPushLogTimeout = 2 * time.Second

// WritePushes writes push records to l, best effort: it waits at most
// timeout, even when ctx ends sooner (the pushes were made; their records
// are worth the wait). Nothing to write, or no l, is no call.
func WritePushes(ctx context.Context, l PushLog, timeout time.Duration, ps []eventlog.Push) error {
	if l == nil || len(ps) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return l.WritePushes(wctx, ps...)
}

// NewPush is the event log's record of the push of e to sub that
// started at start and came to outcome after took, err its failure.
func NewPush(e change.Event, sub store.Subscription, start time.Time, took time.Duration, outcome eventlog.PushOutcome, err error) eventlog.Push {
	p := eventlog.Push{
		EventID: e.ID, Topic: sub.Topic, ConnectionID: sub.ConnectionID, SubscriptionID: sub.ID,
		Outcome: outcome, At: start, DurationMs: float64(took.Microseconds()) / 1000,
		CorrelationID: e.CorrelationID, CausedBy: e.CausedBy,
	}
	if err != nil {
		p.Error = err.Error()
	}
	return p
}

// RedeliveredPushes are the records of kept pushes DeliverPending took
// off sub's list, started at start and done after took: one per push,
// Redelivered, each of its own change, ok or (dropped as undeliverable)
// failed. Those of change skip (the change being pushed with them, whose
// push is recorded as such) and those kept without their change's ids
// are left out.
func RedeliveredPushes(sub store.Subscription, done []Redelivery, skip string, start time.Time, took time.Duration) []eventlog.Push {
	var out []eventlog.Push
	for _, d := range done {
		if d.Event.ID == "" || d.Event.ID == skip {
			continue
		}
		outcome := eventlog.Pushed
		if d.Err != nil {
			outcome = eventlog.Failed
		}
		e := change.Event{ID: d.Event.ID, CorrelationID: d.Event.CorrelationID, CausedBy: d.Event.CausedBy}
		r := NewPush(e, sub, start, took, outcome, d.Err)
		r.Redelivered = true
		out = append(out, r)
	}
	return out
}

// catchUpPushes collects the pushes of the changes one catch-up
// delivers, written to the push log in one call when it ends. A nil
// *catchUpPushes (no push log) records nothing.
type catchUpPushes struct {
	h   *Handler
	sub store.Subscription
	ps  []eventlog.Push
}

func (h *Handler) catchUpRecords(sub store.Subscription) *catchUpPushes {
	if h.cfg.Pushes == nil {
		return nil
	}
	return &catchUpPushes{h: h, sub: sub}
}

// add records the push of e (nil: the snapshot, which is no change's
// push) that started at start and ended with err.
func (r *catchUpPushes) add(e *change.Event, start time.Time, err error) {
	if r == nil || e == nil {
		return
	}
	outcome := eventlog.Pushed
	if err != nil {
		outcome = eventlog.Failed
	}
	p := NewPush(*e, r.sub, start, r.h.cfg.Now().Sub(start), outcome, err)
	p.CatchUp = true
	r.ps = append(r.ps, p)
}

// write writes the records, best effort: a failing or slow log is logged
// and given up after DefaultPushLogTimeout.
func (r *catchUpPushes) write(ctx context.Context, log *slog.Logger) {
	if r == nil {
		return
	}
	if err := WritePushes(ctx, r.h.cfg.Pushes, DefaultPushLogTimeout, r.ps); err != nil {
		log.WarnContext(ctx, "catch-up: push records not written", "topic", r.sub.Topic, "pushes", len(r.ps), "err", err)
	}
}
