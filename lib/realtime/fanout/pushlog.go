package fanout

import (
	"context"
	"sync"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
)

// pushRecords collects the outcome of each push of one change, written to
// the push log in one call once the change is pushed. A nil *pushRecords
// (no push log) records nothing.
type pushRecords struct {
	f  *Fanout
	e  change.Event
	mu sync.Mutex
	ps []eventlog.Push
}

func (f *Fanout) pushRecords(e change.Event) *pushRecords {
	if f.cfg.Pushes == nil {
		return nil
	}
	return &pushRecords{f: f, e: e}
}

// add records the outcome of the push to sub that started at start.
func (r *pushRecords) add(sub store.Subscription, start time.Time, outcome eventlog.PushOutcome, err error) {
	if r == nil {
		return
	}
	p := realtime.NewPush(r.e, sub, start, time.Since(start), outcome, err)
	r.mu.Lock()
	r.ps = append(r.ps, p)
	r.mu.Unlock()
}

// addRedelivered records the kept pushes taken off sub's list with this
// change's push, started at start (realtime.RedeliveredPushes).
func (r *pushRecords) addRedelivered(sub store.Subscription, done []realtime.Redelivery, start time.Time) {
	if r == nil {
		return
	}
	ps := realtime.RedeliveredPushes(sub, done, r.e.ID, start, time.Since(start))
	r.mu.Lock()
	r.ps = append(r.ps, ps...)
	r.mu.Unlock()
}

// write writes the records, best effort: a failing or slow log is logged
// and given up after PushLogTimeout; it never holds up the stream longer.
func (r *pushRecords) write(ctx context.Context) {
	if r == nil {
		return
	}
	if err := realtime.WritePushes(ctx, r.f.cfg.Pushes, r.f.cfg.PushLogTimeout, r.ps); err != nil {
		r.f.log.WarnContext(ctx, "fanout: push records not written", "eventId", r.e.ID, "pushes", len(r.ps), "err", err)
	}
}
