package realtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// maxCatchupRounds bounds how many times a catch-up reads the log again
// because changes kept arriving while it delivered: a topic that changes
// faster than a catch-up round trip is RESYNC_REQUIRED.
const maxCatchupRounds = 50

// catchUp delivers to sub (stored catching up) every change of its topic
// after position from that the subscriber may see, in order, each with
// its cursor, then makes it live. The handoff has no gap and no
// duplicate: the fan-out nudges a subscription catching up (its gen) for
// each change it appends, and the catch-up goes live only on condition
// that gen is what it read before its last read of the log; otherwise it
// reads the log again from where it is. Once live, the fan-out pushes only
// changes after the cursor the catch-up ended at.
//
// snap is the snapshot, read after the head at from. The table is ahead
// of the log (a committed change is appended when the fan-out reads it
// from the stream), so the snapshot may already reflect changes the log
// has after from, or has not got yet. The snapshot is therefore placed in
// the log before it is sent: at the change that renders what it says
// (the changes before it are older states, not sent), or at from when
// the change at from renders it (nothing newer was committed). While
// neither is found the catch-up waits for the log; then it sends the
// snapshot and what followed from. How long it waits depends on what the
// log holds at from:
//
//   - a change that renders something else: a newer change was
//     committed, and the fan-out appends it in a moment; at most
//     Config.SnapshotSettle.
//   - none (the topic's log holds none of its changes up to the head):
//     the snapshot reflects a change from before the topic was marked
//     resumable (markedFor ago), which the log never gets, unless one
//     was committed just before the mark and is still on its way to the
//     fan-out (a stream's usual lag). Until the mark is a third of
//     SnapshotSettle old; not at all once it is older (a quiet topic's
//     subscribers get their snapshot at once). A change later than that
//     follows the snapshot as pushes: the states that led to the
//     snapshot's, in order, then newer ones; never a gap.
//
// Any failure ends the subscription with an error message: a
// subscription must not stay stored half caught up.
func (h *Handler) catchUp(ctx context.Context, log *slog.Logger, sub store.Subscription, from eventlog.Position, snap [][]byte, markedFor time.Duration) error {
	who, hasID, err := SessionIdentity(sub.Session)
	if err != nil {
		return h.abort(ctx, log, sub, err)
	}
	type out struct {
		pos      eventlog.Position
		payloads [][]byte
		ev       *change.Event // the change delivered; nil for the snapshot
	}
	records := h.catchUpRecords(sub)
	defer records.write(ctx, log)
	var (
		last, delivered = from, 0
		previous        []byte // the last payload sent
		held            = snap // the snapshot, not yet placed in the log
		heldAt          = from
		waiting         []out // what follows the snapshot, until it is placed
		settle          = h.cfg.SnapshotSettle
		settleBy        time.Time
	)
	send := func(o out) error {
		cursor := EncodeCursor(sub.Topic, o.pos)
		for _, p := range o.payloads {
			if bytes.Equal(p, previous) {
				continue // the client holds it already
			}
			if delivered++; delivered > h.cfg.MaxCatchup+len(snap) {
				return errTooFarBehind
			}
			start := h.cfg.Now()
			err := h.send(ctx, log, sub.ConnectionID, wsproto.NextMessage(sub.ID, WithCursor(p, cursor)))
			records.add(o.ev, start, err)
			if err != nil {
				return err
			}
			previous = p
		}
		return nil
	}
	// place sends the snapshot where it stands in the log, then what
	// followed it.
	place := func() error {
		o := append([]out{{pos: heldAt, payloads: held}}, waiting...)
		held, waiting = nil, nil
		for _, x := range o {
			if err := send(x); err != nil {
				return err
			}
		}
		return nil
	}
	if held != nil {
		at, err := h.renderAt(ctx, sub, from)
		if err != nil {
			return h.abort(ctx, log, sub, err)
		}
		switch {
		case at != nil && allIn(held, at):
			if err := place(); err != nil { // as of the head: nothing newer was committed
				return h.finish(ctx, log, sub, err)
			}
		case at == nil:
			settle = max(0, h.cfg.SnapshotSettle/3-markedFor)
		}
		settleBy = h.cfg.Now().Add(settle)
	}
	for round := 0; round < maxCatchupRounds; {
		cur, err := h.cfg.Store.GetSubscription(ctx, sub.Topic, sub.ConnectionID, sub.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // completed, or the connection is gone
		}
		if err != nil {
			return h.abort(ctx, log, sub, err)
		}
		for {
			entries, err := h.cfg.Log.Read(ctx, sub.Topic, last, eventlog.MaxReadLimit)
			if err != nil {
				return h.finish(ctx, log, sub, err)
			}
			for _, en := range entries {
				if hasID && who.Expired(h.cfg.Now()) {
					return h.Expire(ctx, sub.ConnectionID)
				}
				payloads, err := RenderChanged(ctx, h.cfg.Schema, h.gate, sub, en.Event, h.cfg.Timeout)
				if err != nil {
					return h.abort(ctx, log, sub, err)
				}
				last = en.Position
				switch {
				case held != nil && len(payloads) > 0 && allIn(payloads, held):
					heldAt, waiting = en.Position, nil // the snapshot's change: what came before is older
				case held != nil:
					waiting = append(waiting, out{pos: en.Position, payloads: payloads, ev: &en.Event})
				default:
					if err := send(out{pos: en.Position, payloads: payloads, ev: &en.Event}); err != nil {
						return h.finish(ctx, log, sub, err)
					}
				}
			}
			if len(entries) < eventlog.MaxReadLimit {
				break
			}
		}
		if held != nil && heldAt == from && h.cfg.Now().Before(settleBy) {
			// The snapshot reflects a change the log has not got yet.
			if err := sleep(ctx, snapshotPoll); err != nil {
				return h.abort(ctx, log, sub, err)
			}
			continue
		}
		if held != nil {
			if heldAt == from {
				// Usual when the log holds none of the topic's changes up
				// to the head (they came before its mark); a warning
				// when a newer change never arrived.
				lvl := slog.LevelWarn
				if settle < h.cfg.SnapshotSettle {
					lvl = slog.LevelDebug
				}
				log.Log(ctx, lvl, "snapshot not found in the topic's log in time: sent with what followed the head", "topic", sub.Topic, "settle", settle)
			}
			if err := place(); err != nil {
				return h.finish(ctx, log, sub, err)
			}
		}
		round++
		live, err := h.cfg.Store.GoLive(ctx, sub, cur.Gen, uint64(last))
		if err != nil {
			return h.abort(ctx, log, sub, err)
		}
		if live {
			log.InfoContext(ctx, "caught up", "topic", sub.Topic, "delivered", delivered, "cursor", uint64(last))
			return nil
		}
	}
	return h.resync(ctx, log, sub.ConnectionID, sub.ID, sub.OperationName, &sub,
		fmt.Errorf("the topic kept changing through %d catch-up rounds", maxCatchupRounds))
}

// snapshotPoll is how often a catch-up looks at the log again while it
// waits for the change its snapshot reflects.
const snapshotPoll = 20 * time.Millisecond

var errTooFarBehind = errors.New("too many changes missed")

// finish ends a catch-up that could not go on: RESYNC_REQUIRED for what
// a client can recover from by re-querying, an internal error otherwise.
func (h *Handler) finish(ctx context.Context, log *slog.Logger, sub store.Subscription, err error) error {
	switch {
	case IsResync(err):
		return h.resync(ctx, log, sub.ConnectionID, sub.ID, sub.OperationName, &sub, err)
	case errors.Is(err, errTooFarBehind):
		return h.resync(ctx, log, sub.ConnectionID, sub.ID, sub.OperationName, &sub,
			fmt.Errorf("more than %d changes missed", h.cfg.MaxCatchup))
	}
	// A failed post included: the subscription cannot stay half caught
	// up; the client subscribes again (resuming from its last cursor).
	return h.abort(ctx, log, sub, err)
}

// renderAt is what the change at position p of sub's topic renders for
// sub: the state it left (nil when the log has no entry there).
func (h *Handler) renderAt(ctx context.Context, sub store.Subscription, p eventlog.Position) ([][]byte, error) {
	if p <= 1 {
		return nil, nil
	}
	entries, err := h.cfg.Log.Read(ctx, sub.Topic, p-1, 1)
	if IsResync(err) || (err == nil && (len(entries) == 0 || entries[0].Position != p)) {
		return nil, nil // no entry at p: a head reserved before any append
	}
	if err != nil {
		return nil, err
	}
	return Render(ctx, h.cfg.Schema, h.gate, sub, entries[0].Event, h.cfg.Timeout)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// allIn reports whether every payload is one of held (none is: a change
// that renders nothing is reflected by any snapshot).
func allIn(payloads, held [][]byte) bool {
	for _, p := range payloads {
		if !contains(held, p) {
			return false
		}
	}
	return true
}

func contains(list [][]byte, p []byte) bool {
	for _, q := range list {
		if bytes.Equal(p, q) {
			return true
		}
	}
	return false
}

// resync ends a subscription (forgotten when stored) with one error
// message, code RESYNC_REQUIRED: the client re-queries and subscribes
// again without after.
func (h *Handler) resync(ctx context.Context, log *slog.Logger, conn, id, opName string, stored *store.Subscription, why error) error {
	log.InfoContext(ctx, "subscription cannot resume: RESYNC_REQUIRED", "reason", why.Error())
	if stored != nil {
		if err := h.cfg.Store.DeleteSubscription(ctx, *stored); err != nil {
			return err
		}
	}
	return h.sendErrors(ctx, log, conn, id, opName, graphqlhttp.NewError(errs.ResyncRequired, ErrResync.Message))
}

// abort ends a subscription whose catch-up failed: it is forgotten and
// the client gets an internal error (its detail goes to the log), so that
// it subscribes again rather than wait for pushes that would not come.
func (h *Handler) abort(ctx context.Context, log *slog.Logger, sub store.Subscription, cause error) error {
	log.ErrorContext(ctx, "catch-up failed", "topic", sub.Topic, "err", cause)
	if err := h.cfg.Store.DeleteSubscription(ctx, sub); err != nil {
		return errors.Join(cause, err)
	}
	return h.sendErrors(ctx, log, sub.ConnectionID, sub.ID, sub.OperationName,
		graphqlhttp.NewError(errs.InternalServerError, "the subscription could not catch up: subscribe again"))
}
