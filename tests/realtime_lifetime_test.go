package tests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsclient"
	"github.com/threefactor/framework/lib/topology"
)

// API Gateway's connection lifetimes in make dev, shortened: a client
// that keeps alive (wsclient's KeepAlive: graphql-transport-ws pings)
// outlives the idle timeout, a silent one is closed at idle, every one
// at the maximum duration, each with 1001 and its subscriptions cleaned
// up by $disconnect; the client then reconnects with after (the cursor
// of the last push it holds) and gets what it missed during the cut, then
// live pushes, with no gap.
func TestConnectionLifetimesLikeAPIGateway(t *testing.T) {
	const idle, maxLife = 2 * time.Second, 6 * time.Second
	s := startDev(t, "DEV_WS_IDLE_TIMEOUT="+idle.String(), "DEV_WS_MAX_LIFETIME="+maxLife.String())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo := fooddelivery.App.Topology()
	st, err := store.New(dynamodb.NewFromConfig(emulatortest.Config(t)), store.Config{
		ConnectionsTable: topo.TableName(topology.ConnectionsTable), SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "tiramisu", "quantity": 1})
	if err != nil {
		t.Fatal(err)
	}
	subscribers := func() int {
		subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(o.ID))
		if err != nil {
			t.Fatal(err)
		}
		return len(subs)
	}
	url := "ws" + strings.TrimPrefix(s.url, "http")
	dial := func(keepAlive time.Duration) (*wsclient.Client, *wsclient.Subscription) {
		t.Helper()
		c, err := wsclient.Dial(ctx, wsclient.Config{URL: url, ConnectionParams: wsclient.Bearer(s.token), KeepAlive: keepAlive})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		sub, err := c.Subscribe(ctx, wsclient.Request{
			Query:     `subscription($id: ID!) { orderUpdated(id: $id) { id status paymentIntent { id } } }`,
			Variables: map[string]any{"id": o.ID},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(ctx); err != nil { // the subscription is in place
			t.Fatal(err)
		}
		return c, sub
	}
	goingAway := func(c *wsclient.Client, what string) {
		t.Helper()
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatalf("%s: not closed", what)
		}
		var ce *wsclient.CloseError
		if !errors.As(c.Err(), &ce) || ce.Code != 1001 {
			t.Fatalf("%s: closed with %v, want 1001 Going away", what, c.Err())
		}
	}

	opened := time.Now()
	alive, aliveSub := dial(idle / 5)
	silent, _ := dial(0)
	rtWaitFor(t, time.Minute, "two subscribers stored", func() bool { return subscribers() == 2 })
	// What the client holds when the cut comes: the order validated, and
	// that push's cursor.
	held := stepsUntil(t, aliveSub, is("VALIDATED"))
	cursor := held[len(held)-1].Cursor

	goingAway(silent, "the silent client at the idle timeout")
	if alive.Err() != nil {
		t.Fatalf("the client that pings was closed with the silent one: %v", alive.Err())
	}
	rtWaitFor(t, time.Minute, "the silent client's subscription cleaned up", func() bool { return subscribers() == 1 })

	goingAway(alive, "the client that pings, at the maximum duration")
	if d := time.Since(opened); d < maxLife {
		t.Fatalf("closed after %s, before the maximum duration %s", d, maxLife)
	}
	rtWaitFor(t, time.Minute, "every subscription cleaned up", func() bool { return subscribers() == 0 })

	// While the client is cut off, the order is paid, approved and
	// assigned. It reconnects with after: what it missed, once each and
	// in order, then live changes.
	if _, err := s.payOrder(ctx, o.ID, 550); err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 2*time.Minute, "the order assigned", func() bool { return s.mustOrder(t, o.ID).Status == "DRIVER_ASSIGNED" })
	again, err := wsclient.Dial(ctx, wsclient.Config{URL: url, ConnectionParams: wsclient.Bearer(s.token), KeepAlive: idle / 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	resumed := watch(t, again, o.ID, cursor)
	got := stepsUntil(t, resumed, is("DRIVER_ASSIGNED"))
	if statuses(got) != "[PAID APPROVED "+got[len(got)-1].String()+"]" {
		t.Fatalf("resumed after the 2-hour cut with %v, want PAID, APPROVED, DRIVER_ASSIGNED once each", got)
	}
	setDriver(t, o.ID, "driverId", "drv-after-the-cut")
	if live := nextStep(t, resumed); live.Driver != "drv-after-the-cut" {
		t.Fatalf("after the catch-up: %v (%s), want the live driver change", live, live.Raw)
	}
}
