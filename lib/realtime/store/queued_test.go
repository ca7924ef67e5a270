package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/realtime/store"
)

// TestQueueMarks: a topic's push-queue mark counts the messages marked
// queued and not yet done, rides along with the subscriptions in the
// topic's Query without showing up as one, tolerates repeated and unknown
// MarkDone calls, and lapses TTL after the last MarkQueued.
func TestQueueMarks(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	st, _ := newStore(t, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	sub := store.Subscription{Topic: "a", ConnectionID: "c1", ID: "1", Query: "subscription { x }"}
	if err := st.PutSubscriptions(ctx, []store.Subscription{sub}); err != nil {
		t.Fatal(err)
	}
	queued := func(topic string) int {
		t.Helper()
		a, err := st.Audience(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if topic == "a" && (len(a.Subscriptions) != 1 || a.Subscriptions[0].ConnectionID != "c1") {
			t.Fatalf("subscriptions of a = %+v, want c1's only", a.Subscriptions)
		}
		return a.Queued
	}
	if n := queued("a"); n != 0 {
		t.Fatalf("queued before any mark = %d", n)
	}
	if err := st.MarkQueued(ctx, []string{"a", "b"}, []string{"m1", "m2"}); err != nil {
		t.Fatal(err)
	}
	if a, b := queued("a"), queued("b"); a != 2 || b != 2 {
		t.Fatalf("queued = %d on a, %d on b; want 2 each", a, b)
	}
	if subs, err := st.SubscriptionsFor(ctx, "b"); err != nil || len(subs) != 0 {
		t.Fatalf("the mark was read as a subscription of b: %+v, %v", subs, err)
	}
	if subs, err := st.SubscriptionsOf(ctx, "c1"); err != nil || len(subs) != 1 {
		t.Fatalf("subscriptions of c1 = %+v, %v", subs, err)
	}
	for range 2 { // done twice: counted once
		if err := st.MarkDone(ctx, []string{"a", "b"}, "m1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkDone(ctx, []string{"never-marked"}, "m1"); err != nil {
		t.Fatalf("MarkDone on a topic without a mark: %v", err)
	}
	if a := queued("a"); a != 1 {
		t.Fatalf("queued on a after m1 done = %d, want 1", a)
	}
	if err := st.MarkDone(ctx, []string{"a", "b"}, "m2"); err != nil {
		t.Fatal(err)
	}
	if a, b := queued("a"), queued("b"); a != 0 || b != 0 {
		t.Fatalf("queued after all done = %d, %d", a, b)
	}

	if err := st.MarkQueued(ctx, []string{"a"}, []string{"m3"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(store.DefaultTTL + time.Second)
	mu.Unlock()
	a, err := st.Audience(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Queued != 0 {
		t.Fatalf("a mark older than the TTL still counts %d", a.Queued)
	}
}
