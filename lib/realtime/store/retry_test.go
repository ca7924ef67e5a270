package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

// lostAnswer is the DynamoDB client's HTTP transport with a fault: for
// the operations it is armed for, the request reaches DynamoDB and is
// carried out, and then the answer is lost (a reset connection). The SDK
// retries such a transport error, so the retry meets the write it repeats.
type lostAnswer struct {
	next aws.HTTPClient

	mu    sync.Mutex
	armed map[string]int // "PutItem <table>" -> answers still to lose
	calls map[string]int // "PutItem <table>" -> requests seen
}

func (l *lostAnswer) arm(op, table string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed[op+" "+table]++
}

func (l *lostAnswer) seen(op, table string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[op+" "+table]
}

func (l *lostAnswer) Do(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct{ TableName string }
	_ = json.Unmarshal(body, &in)
	key := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.") + " " + in.TableName
	l.mu.Lock()
	l.calls[key]++
	lose := l.armed[key] > 0
	l.mu.Unlock()
	resp, err := l.next.Do(r)
	if err != nil || !lose || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	// The write is done; its answer never arrives.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.mu.Lock()
	l.armed[key]--
	l.mu.Unlock()
	return nil, errors.New("read tcp 127.0.0.1:4566: connection reset by peer")
}

// TestRetriedWritesKnowTheirOwn: every conditional write of the protocol
// whose answer is lost after it succeeded, and which the SDK therefore
// retries, recognises its own first attempt instead of reporting a
// conflict (4409 or 4429 for a legitimate client), and a complete whose
// answer was lost still deletes the stored subscription.
func TestRetriedWritesKnowTheirOwn(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := topology.Topology{App: fmt.Sprintf("rtretry%d-%d", os.Getpid()%10000, appSeq.Add(1))}
	if _, err := provision.Apply(ctx, cfg, topo); err != nil {
		t.Fatalf("provision: %v", err)
	}
	conns, subsTable := topo.TableName(topology.ConnectionsTable), topo.TableName(topology.SubscriptionsTable)
	faults := &lostAnswer{next: awshttp.NewBuildableClient(), armed: map[string]int{}, calls: map[string]int{}}
	st, err := store.New(dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.HTTPClient = faults }),
		store.Config{ConnectionsTable: conns, SubscriptionsTable: subsTable})
	if err != nil {
		t.Fatal(err)
	}
	// retried checks that the armed fault fired and the SDK tried again.
	retried := func(t *testing.T, op, table string, before int) {
		t.Helper()
		if n := faults.seen(op, table) - before; n < 2 {
			t.Fatalf("%s on %s sent %d times; the lost answer should have made the SDK retry", op, table, n)
		}
	}
	if _, err := st.PutConnection(ctx, "c1"); err != nil {
		t.Fatal(err)
	}

	t.Run("connection_init", func(t *testing.T) {
		before := faults.seen("UpdateItem", conns)
		faults.arm("UpdateItem", conns)
		if err := st.MarkInit(ctx, "c1"); err != nil {
			t.Fatalf("MarkInit after a lost answer = %v, want nil (4429 for a legitimate client)", err)
		}
		retried(t, "UpdateItem", conns, before)
		if err := st.MarkInit(ctx, "c1"); !errors.Is(err, store.ErrInitTwice) {
			t.Fatalf("a real second connection_init = %v, want ErrInitTwice", err)
		}
	})
	if err := st.Ack(ctx, "c1", nil); err != nil {
		t.Fatal(err)
	}

	sub := func(id string) store.Subscription {
		return store.Subscription{Topic: "t", ConnectionID: "c1", ID: id, Query: "subscription { x }"}
	}
	stored := func(t *testing.T, id string, want bool) {
		t.Helper()
		c, err := st.GetConnection(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := st.SubscriptionsFor(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rows {
			if r.ID == id {
				n++
			}
		}
		_, entered := c.Subscriptions[id]
		if entered != want || (n == 1) != want || n > 1 {
			t.Fatalf("subscription %s: entered %v, %d rows; want stored = %v", id, entered, n, want)
		}
	}
	t.Run("subscription row", func(t *testing.T) {
		before := faults.seen("PutItem", subsTable)
		faults.arm("PutItem", subsTable)
		if err := st.AddSubscription(ctx, sub("a")); err != nil {
			t.Fatalf("subscribe after a lost answer = %v, want nil (4409 for a fresh id)", err)
		}
		retried(t, "PutItem", subsTable, before)
		stored(t, "a", true)
	})
	t.Run("connection entry", func(t *testing.T) {
		before := faults.seen("UpdateItem", conns)
		faults.arm("UpdateItem", conns)
		if err := st.AddSubscription(ctx, sub("b")); err != nil {
			t.Fatalf("subscribe after a lost answer = %v, want nil (4409 for a fresh id)", err)
		}
		retried(t, "UpdateItem", conns, before)
		stored(t, "b", true)
	})
	t.Run("a real duplicate is still one", func(t *testing.T) {
		if err := st.AddSubscription(ctx, sub("a")); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("subscribe with an id in use = %v, want ErrDuplicate", err)
		}
		stored(t, "a", true)
	})
	t.Run("complete", func(t *testing.T) {
		if err := st.AddSubscription(ctx, sub("c")); err != nil {
			t.Fatal(err)
		}
		stored(t, "c", true)
		before := faults.seen("UpdateItem", conns)
		faults.arm("UpdateItem", conns)
		if _, err := st.RemoveSubscription(ctx, "c1", "c"); err != nil {
			t.Fatal(err)
		}
		retried(t, "UpdateItem", conns, before)
		stored(t, "c", false)
	})
}
