package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

var appSeq atomic.Int64

// newStore provisions a fresh app's framework tables on the emulator.
func newStore(t testing.TB, now func() time.Time) (*store.Store, *dynamodb.Client) {
	t.Helper()
	cfg := emulatortest.Config(t)
	topo := topology.Topology{App: fmt.Sprintf("rtstore%d-%d", os.Getpid()%10000, appSeq.Add(1))}
	if _, err := provision.Apply(context.Background(), cfg, topo); err != nil {
		t.Fatalf("provision: %v", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	st, err := store.New(db, store.Config{
		ConnectionsTable:   topo.TableName(topology.ConnectionsTable),
		SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
		Now:                now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, db
}

func TestConnectionLifecycle(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)

	if _, err := st.GetConnection(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get unknown = %v, want ErrNotFound", err)
	}
	if err := st.MarkInit(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("init unknown = %v, want ErrNotFound", err)
	}
	c, err := st.PutConnection(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ExpiresAt.Sub(c.ConnectedAt); got != store.DefaultTTL {
		t.Fatalf("ttl = %s, want %s", got, store.DefaultTTL)
	}
	sub := store.Subscription{Topic: "t", ConnectionID: "c1", ID: "s1", Query: "subscription { x }"}
	if err := st.AddSubscription(ctx, sub); !errors.Is(err, store.ErrNotAcked) {
		t.Fatalf("subscribe before ack = %v, want ErrNotAcked", err)
	}
	if err := st.MarkInit(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkInit(ctx, "c1"); !errors.Is(err, store.ErrInitTwice) {
		t.Fatalf("second init = %v, want ErrInitTwice", err)
	}
	if err := st.Ack(ctx, "c1", json.RawMessage(`{"user":"u1"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetConnection(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.InitReceived || !got.Acked || string(got.Session) != `{"user":"u1"}` {
		t.Fatalf("connection = %+v", got)
	}
	if err := st.Ack(ctx, "nope", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ack unknown = %v, want ErrNotFound", err)
	}
}

func TestSubscriptions(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)
	for _, c := range []string{"c1", "c2"} {
		if _, err := st.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.Ack(ctx, c, json.RawMessage(`{"c":"`+c+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	add := func(conn, id, topic string) error {
		return st.AddSubscription(ctx, store.Subscription{
			Topic: topic, ConnectionID: conn, ID: id, Query: "subscription($id: ID!) { x(id: $id) }",
			OperationName: "", Variables: map[string]any{"id": topic}, Session: json.RawMessage(`{"c":"` + conn + `"}`),
		})
	}
	for _, s := range [][3]string{{"c1", "1", "a"}, {"c1", "2", "b"}, {"c2", "1", "a"}} {
		if err := add(s[0], s[1], s[2]); err != nil {
			t.Fatalf("add %v: %v", s, err)
		}
	}
	if err := add("c1", "1", "b"); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("duplicate id = %v, want ErrDuplicate", err)
	}
	if err := add("gone", "1", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("subscribe on unknown connection = %v, want ErrNotFound", err)
	}
	subs, err := st.SubscriptionsFor(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 {
		t.Fatalf("topic a has %d subscriptions, want 2: %+v", len(subs), subs)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].ConnectionID < subs[j].ConnectionID })
	if s := subs[0]; s.ConnectionID != "c1" || s.ID != "1" || s.Variables["id"] != "a" || string(s.Session) != `{"c":"c1"}` || s.Query == "" {
		t.Fatalf("stored subscription = %+v", s)
	}
	c1, _ := st.GetConnection(ctx, "c1")
	if fmt.Sprint(c1.Subscriptions) != "map[1:a 2:b]" {
		t.Fatalf("c1 subscriptions = %v", c1.Subscriptions)
	}

	// complete frees the id for reuse.
	if ok, err := st.RemoveSubscription(ctx, "c1", "1"); err != nil || !ok {
		t.Fatalf("remove = %v, %v", ok, err)
	}
	if subs, _ := st.SubscriptionsFor(ctx, "a"); len(subs) != 1 || subs[0].ConnectionID != "c2" {
		t.Fatalf("topic a after complete = %+v", subs)
	}
	if err := add("c1", "1", "c"); err != nil {
		t.Fatalf("reuse of a completed id: %v", err)
	}
	if ok, err := st.RemoveSubscription(ctx, "c1", "never"); err != nil || ok {
		t.Fatalf("remove of an unknown id = %v, %v; want false, nil", ok, err)
	}

	// disconnect removes the connection and all its subscriptions.
	if err := st.DeleteConnection(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := st.SubscriptionsOf(ctx, "c1"); len(subs) != 0 {
		t.Fatalf("c1 still has %+v", subs)
	}
	for _, topic := range []string{"b", "c"} {
		if subs, _ := st.SubscriptionsFor(ctx, topic); len(subs) != 0 {
			t.Fatalf("topic %s still has %+v", topic, subs)
		}
	}
	if _, err := st.GetConnection(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted connection: %v", err)
	}
	if err := st.DeleteConnection(ctx, "c1"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

// API Gateway may run a connection's messages concurrently: a complete
// handled before its subscribe must win.
func TestCompleteBeforeSubscribe(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)
	if _, err := st.PutConnection(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Ack(ctx, "c1", nil); err != nil {
		t.Fatal(err)
	}
	if found, err := st.RemoveSubscription(ctx, "c1", "early"); err != nil || found {
		t.Fatalf("complete of an unknown id = %v, %v", found, err)
	}
	sub := store.Subscription{Topic: "t", ConnectionID: "c1", ID: "early", Query: "subscription { x }"}
	if err := st.AddSubscription(ctx, sub); !errors.Is(err, store.ErrCompleted) {
		t.Fatalf("subscribe after its complete = %v, want ErrCompleted", err)
	}
	if subs, _ := st.SubscriptionsFor(ctx, "t"); len(subs) != 0 {
		t.Fatalf("completed subscription stored: %+v", subs)
	}
	// The tombstone is used up: the id can be used again.
	if err := st.AddSubscription(ctx, sub); err != nil {
		t.Fatalf("reuse: %v", err)
	}
	if subs, _ := st.SubscriptionsFor(ctx, "t"); len(subs) != 1 {
		t.Fatalf("reused subscription not stored: %+v", subs)
	}
	// A duplicate with the same topic keeps the original row.
	if err := st.AddSubscription(ctx, sub); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("duplicate = %v", err)
	}
	if subs, _ := st.SubscriptionsFor(ctx, "t"); len(subs) != 1 {
		t.Fatalf("duplicate removed the original: %+v", subs)
	}
	// A duplicate with another topic leaves no row behind.
	other := sub
	other.Topic = "u"
	if err := st.AddSubscription(ctx, other); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("duplicate on another topic = %v", err)
	}
	if subs, _ := st.SubscriptionsFor(ctx, "u"); len(subs) != 0 {
		t.Fatalf("duplicate left a row: %+v", subs)
	}
}

func TestExpired(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st, _ := newStore(t, clock)
	if _, err := st.PutConnection(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Ack(ctx, "c1", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.AddSubscription(ctx, store.Subscription{Topic: "t", ConnectionID: "c1", ID: "1", Query: "subscription { x }"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(store.DefaultTTL + time.Second)
	mu.Unlock()
	// DynamoDB deletes expired items lazily: the store must not serve them.
	if _, err := st.GetConnection(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired connection: %v", err)
	}
	if subs, err := st.SubscriptionsFor(ctx, "t"); err != nil || len(subs) != 0 {
		t.Fatalf("expired subscriptions = %+v, %v", subs, err)
	}
}

func TestPutSubscriptionsPaginates(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t, nil)
	var subs []store.Subscription
	for i := range 260 {
		topic := "hot"
		if i%2 == 1 {
			topic = "cold"
		}
		// Large queries push the topic over one 1 MB Query page.
		subs = append(subs, store.Subscription{Topic: topic, ConnectionID: fmt.Sprintf("c%03d", i), ID: "1", Query: fmt.Sprintf("subscription { x } # %08000d", i)})
	}
	if err := st.PutSubscriptions(ctx, subs); err != nil {
		t.Fatal(err)
	}
	hot, err := st.SubscriptionsFor(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	if len(hot) != 130 {
		t.Fatalf("hot has %d subscriptions, want 130", len(hot))
	}
}
