package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/realtime/store"
)

// TestCatchupHandoff holds the store's side of the catch-up handoff: a
// nudge during catch-up makes going live fail (the catch-up reads the log
// again), going live with the gen last read succeeds, and a nudge after
// that reports live with the cursor the catch-up ended at.
func TestCatchupHandoff(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)
	if _, err := st.PutConnection(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkInit(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Ack(ctx, "c1", nil); err != nil {
		t.Fatal(err)
	}
	sub := store.Subscription{Topic: "t1", ConnectionID: "c1", ID: "s1", Query: "subscription { x }", Catchup: true}
	if err := st.AddSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetSubscription(ctx, "t1", "c1", "s1")
	if err != nil || !got.Catchup || got.Gen != 0 || got.Cursor != 0 {
		t.Fatalf("stored = %+v, %v; want catching up at gen 0", got, err)
	}
	found, err := st.SubscriptionsFor(ctx, "t1")
	if err != nil || len(found) != 1 || !found[0].Catchup {
		t.Fatalf("SubscriptionsFor = %+v, %v", found, err)
	}

	live, _, err := st.Nudge(ctx, sub)
	if err != nil || live {
		t.Fatalf("nudge during catch-up = live %v, %v", live, err)
	}
	if ok, err := st.GoLive(ctx, sub, 0, 41); err != nil || ok {
		t.Fatalf("go live with a stale gen = %v, %v; want refused", ok, err)
	}
	got, _ = st.GetSubscription(ctx, "t1", "c1", "s1")
	if got.Gen != 1 || !got.Catchup {
		t.Fatalf("after a nudge: %+v", got)
	}
	if ok, err := st.GoLive(ctx, sub, got.Gen, 42); err != nil || !ok {
		t.Fatalf("go live = %v, %v", ok, err)
	}
	live, cursor, err := st.Nudge(ctx, sub)
	if err != nil || !live || cursor != 42 {
		t.Fatalf("nudge after going live = %v, %d, %v; want live at 42", live, cursor, err)
	}
	if ok, err := st.GoLive(ctx, sub, got.Gen, 43); err != nil || ok {
		t.Fatalf("going live twice = %v, %v", ok, err)
	}
	found, _ = st.SubscriptionsFor(ctx, "t1")
	if len(found) != 1 || found[0].Catchup || found[0].Cursor != 42 {
		t.Fatalf("live subscription = %+v", found)
	}

	if _, err := st.RemoveSubscription(ctx, "c1", "s1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Nudge(ctx, sub); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("nudge of a removed subscription = %v, want ErrNotFound", err)
	}
	if _, err := st.GetSubscription(ctx, "t1", "c1", "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get removed = %v", err)
	}
}

// TestPendingPushes: kept pushes stay in order, one deliverer holds them
// at a time, delivered ones go, and the connection lists the
// subscriptions holding some.
func TestPendingPushes(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)
	for _, step := range []func() error{
		func() error { _, err := st.PutConnection(ctx, "c1"); return err },
		func() error { return st.MarkInit(ctx, "c1") },
		func() error { return st.Ack(ctx, "c1", nil) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	sub := store.Subscription{Topic: "t1", ConnectionID: "c1", ID: "s1", Query: "subscription { x }"}
	if err := st.AddSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if n, err := st.AddPending(ctx, sub, store.Pending{Position: 1, Frame: []byte("one")}, store.Pending{Position: 2, Frame: []byte("two")}); err != nil || n != 2 {
		t.Fatalf("add = %d, %v", n, err)
	}
	ev := store.PendingEvent{ID: "ev-3", CorrelationID: "req-3", CausedBy: "alice"}
	if n, err := st.AddPending(ctx, sub, store.Pending{Position: 3, Frame: []byte("three"), Event: ev}); err != nil || n != 3 {
		t.Fatalf("add = %d, %v", n, err)
	}
	c, err := st.GetConnection(ctx, "c1")
	if err != nil || len(c.PendingSubscriptions) != 1 || c.PendingSubscriptions[0] != "s1" {
		t.Fatalf("connection lists %v, %v", c.PendingSubscriptions, err)
	}
	ps, err := st.TakePending(ctx, sub, time.Minute)
	if err != nil || len(ps) != 3 || string(ps[0].Frame) != "one" || ps[2].Position != 3 || ps[2].Event != ev || ps[0].Event != (store.PendingEvent{}) {
		t.Fatalf("take = %+v, %v", ps, err)
	}
	if again, err := st.TakePending(ctx, sub, time.Minute); err != nil || again != nil {
		t.Fatalf("a second deliverer got %+v, %v; want none while leased", again, err)
	}
	if err := st.DonePending(ctx, sub, 2); err != nil {
		t.Fatal(err)
	}
	ps, err = st.TakePending(ctx, sub, time.Minute)
	if err != nil || len(ps) != 1 || string(ps[0].Frame) != "three" {
		t.Fatalf("after two delivered: %+v, %v", ps, err)
	}
	if err := st.DonePending(ctx, sub, 1); err != nil {
		t.Fatal(err)
	}
	if ps, err := st.TakePending(ctx, sub, time.Minute); err != nil || ps != nil {
		t.Fatalf("all delivered, still %+v, %v", ps, err)
	}
	if c, _ := st.GetConnection(ctx, "c1"); len(c.PendingSubscriptions) != 0 {
		t.Fatalf("connection still lists %v", c.PendingSubscriptions)
	}
	if _, err := st.RemoveSubscription(ctx, "c1", "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddPending(ctx, sub, store.Pending{Position: 4}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("keeping for a removed subscription = %v, want ErrNotFound", err)
	}
}

// TestPushedPosition: a topic's pushed position moves forward only, and
// is not a subscription of the topic.
func TestPushedPosition(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)
	if p, err := st.Pushed(ctx, "t1"); err != nil || p != 0 {
		t.Fatalf("unknown = %d, %v", p, err)
	}
	for _, p := range []uint64{5, 7, 6} {
		if err := st.SetPushed(ctx, "t1", p); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := st.Pushed(ctx, "t1"); err != nil || p != 7 {
		t.Fatalf("pushed = %d, %v; want 7 (never back)", p, err)
	}
	if err := st.PutSubscriptions(ctx, []store.Subscription{{Topic: "t1", ConnectionID: "c1", ID: "s1", Query: "subscription { x }"}}); err != nil {
		t.Fatal(err)
	}
	if subs, err := st.SubscriptionsFor(ctx, "t1"); err != nil || len(subs) != 1 || subs[0].ConnectionID != "c1" {
		t.Fatalf("subscriptions = %+v, %v", subs, err)
	}
	if a, err := st.Audience(ctx, "t1"); err != nil || a.Pushed != 7 || len(a.Subscriptions) != 1 {
		t.Fatalf("audience = %+v, %v; want the pushed position with the subscription", a, err)
	}
}

// TestMarkResumable: a topic's mark says since when its changes go into
// its log; marking it again keeps that time, and a mark that expired
// starts again from the moment it is renewed.
func TestMarkResumable(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	st, _ := newStore(t, func() time.Time { return now })
	first := now
	if since, err := st.MarkResumable(ctx, "t1", time.Hour); err != nil || !since.Equal(first) {
		t.Fatalf("first mark: since %v, %v; want now (%v)", since, err, first)
	}
	now = now.Add(10 * time.Minute)
	if since, err := st.MarkResumable(ctx, "t1", time.Hour); err != nil || !since.Equal(first) {
		t.Fatalf("marked again: since %v, %v; want the first mark's %v", since, err, first)
	}
	if since, err := st.MarkResumable(ctx, "t2", time.Hour); err != nil || !since.Equal(now) {
		t.Fatalf("another topic: since %v, %v; want now (%v)", since, err, now)
	}
	now = now.Add(2 * time.Hour) // t1's mark expired (renewed for an hour at +10m)
	if since, err := st.MarkResumable(ctx, "t1", time.Hour); err != nil || !since.Equal(now) {
		t.Fatalf("after the mark expired: since %v, %v; want now (%v)", since, err, now)
	}
	now = now.Add(time.Minute)
	if since, err := st.MarkResumable(ctx, "t1", time.Hour); err != nil || !since.Equal(now.Add(-time.Minute)) {
		t.Fatalf("the renewed mark: since %v, %v; want %v", since, err, now.Add(-time.Minute))
	}
	// The audience says until when the mark lasts (the fan-out takes the
	// topic as marked until then without reading it again).
	for topic, until := range map[string]time.Time{"t1": now.Add(time.Hour), "t3": {}} {
		a, err := st.Audience(ctx, topic)
		if err != nil || a.Resumable() != !until.IsZero() || !a.ResumableUntil.Equal(until) {
			t.Errorf("%s: audience resumable %v until %v, %v; want until %v", topic, a.Resumable(), a.ResumableUntil, err, until)
		}
	}
	now = now.Add(2 * time.Hour)
	if a, err := st.Audience(ctx, "t1"); err != nil || a.Resumable() || !a.ResumableUntil.IsZero() {
		t.Errorf("t1 after its mark expired: resumable %v until %v, %v", a.Resumable(), a.ResumableUntil, err)
	}
}
