package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime/store"
)

const watchOrder = `subscription Watch($id: ID!) { orderUpdated(id: $id) { id status totalCents paymentIntent { id } driverId } }`

type pushed struct {
	Data struct {
		OrderUpdated struct {
			ID            string
			Status        string
			TotalCents    int
			PaymentIntent *struct{ ID string }
			DriverID      *string
		}
	}
	Errors []map[string]any
}

func nextPayloads(t *testing.T, n *nodeClient, sub string) ([]pushed, []string) {
	t.Helper()
	var out []pushed
	var raw []string
	for _, ev := range n.of("sub", sub) {
		if ev["event"] != "next" {
			continue
		}
		b, _ := json.Marshal(ev["payload"])
		var p pushed
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("payload %s: %v", b, err)
		}
		out = append(out, p)
		raw = append(raw, string(b))
	}
	return out, raw
}

func hasStatus(n *nodeClient, sub, status string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		if ev["sub"] != sub || ev["event"] != "next" {
			return false
		}
		p, _ := ev["payload"].(map[string]any)
		d, _ := p["data"].(map[string]any)
		o, _ := d["orderUpdated"].(map[string]any)
		return o["status"] == status
	}
}

// subscribeToNewOrder places an order and subscribes client to it:
// orderUpdated starts with a snapshot, so the first push is the order as
// it is (PLACED, or VALIDATED already), and every later change follows,
// whatever the race between the subscription and validate-order.
func subscribeToNewOrder(t *testing.T, s *devStack, n *nodeClient, client, sub string) (order, string) {
	t.Helper()
	o, err := s.placeOrder(context.Background(), "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 2})
	if err != nil {
		t.Fatal(err)
	}
	n.do(map[string]any{"cmd": "subscribe", "client": client, "sub": sub, "query": watchOrder, "variables": map[string]any{"id": o.ID}})
	n.await(time.Minute, "the snapshot of "+sub, func(ev map[string]any) bool { return ev["sub"] == sub && ev["event"] == "next" })
	return o, sub
}

// TestRealtimeE2E drives the real graphql-ws npm client against the dev
// stack (cmd/dev): the reference workflow reaches the client through
// orderUpdated, in order, once each; other subscribers see nothing of
// it; complete stops pushes; a dropped connection is cleaned up.
func TestRealtimeE2E(t *testing.T) {
	ctx := context.Background()
	s := startDev(t)
	st := realtimeStore(t)
	n := startNode(t)
	for _, c := range []string{"a", "b"} {
		n.do(map[string]any{"cmd": "connect", "client": c, "url": s.wsURL(), "connectionParams": s.initPayload()})
		n.await(time.Minute, "client "+c+" connected", func(ev map[string]any) bool { return ev["event"] == "connected" && ev["client"] == c })
	}

	watched, subA := subscribeToNewOrder(t, s, n, "a", "a")
	other, subB := subscribeToNewOrder(t, s, n, "b", "b")

	// The snapshot or the change: VALIDATED reaches the subscriber either way.
	ev := n.await(2*time.Minute, "VALIDATED", hasStatus(n, subA, "VALIDATED"))
	total := int(ev["payload"].(map[string]any)["data"].(map[string]any)["orderUpdated"].(map[string]any)["totalCents"].(float64))
	if total != 1800 {
		t.Fatalf("VALIDATED total %d, want 1800 (2 x 900)", total)
	}
	if _, err := s.payOrder(ctx, watched.ID, total); err != nil {
		t.Fatal(err)
	}
	n.await(2*time.Minute, "DRIVER_ASSIGNED", hasStatus(n, subA, "DRIVER_ASSIGNED"))

	t.Run("every step arrives in order, once", func(t *testing.T) {
		got, raw := nextPayloads(t, n, subA)
		var runs []string
		count := map[string]int{}
		seen := map[string]bool{}
		for i, p := range got {
			o := p.Data.OrderUpdated
			if len(p.Errors) > 0 || o.ID != watched.ID {
				t.Fatalf("push %d: %s", i, raw[i])
			}
			if seen[raw[i]] {
				t.Fatalf("push %d delivered twice: %s", i, raw[i])
			}
			seen[raw[i]] = true
			count[o.Status]++
			if len(runs) == 0 || runs[len(runs)-1] != o.Status {
				runs = append(runs, o.Status)
			}
		}
		// The snapshot first (PLACED, or VALIDATED already), then each
		// step once: the payment intent payOrder records changes a field
		// the subscription selects (paymentIntent), so it is one more
		// VALIDATED push, and the only one.
		if runs[0] == "PLACED" {
			runs = runs[1:]
		}
		if fmt.Sprint(runs) != "[VALIDATED PAID APPROVED DRIVER_ASSIGNED]" {
			t.Fatalf("statuses in order %v, want [VALIDATED PAID APPROVED DRIVER_ASSIGNED]; pushes %v", runs, raw)
		}
		for _, s := range []string{"PLACED", "PAID", "APPROVED", "DRIVER_ASSIGNED"} {
			if count[s] > 1 || (s != "PLACED" && count[s] != 1) {
				t.Fatalf("%s pushed %d times: %v", s, count[s], raw)
			}
		}
		if count["VALIDATED"] != 2 {
			t.Fatalf("VALIDATED pushed %d times, want twice (then with the payment intent): %v", count["VALIDATED"], raw)
		}
		for i, p := range raw {
			if !strings.Contains(p, `"extensions":{"cursor":"`) {
				t.Fatalf("push %d without a cursor: %s", i, p)
			}
		}
		if last := got[len(got)-1].Data.OrderUpdated; last.DriverID == nil || *last.DriverID == "" {
			t.Fatalf("DRIVER_ASSIGNED without a driver: %s", raw[len(raw)-1])
		}
	})

	t.Run("another order's subscriber sees none of it", func(t *testing.T) {
		got, raw := nextPayloads(t, n, subB)
		for i, p := range got {
			if p.Data.OrderUpdated.ID != other.ID {
				t.Fatalf("b got a push about %s: %s", p.Data.OrderUpdated.ID, raw[i])
			}
		}
	})

	t.Run("complete stops pushes", func(t *testing.T) {
		// a also watches b's order; b completes; then b's order moves on.
		stored, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(other.ID))
		if err != nil || len(stored) != 1 {
			t.Fatalf("b's subscription: %+v, %v", stored, err)
		}
		bConn := stored[0].ConnectionID
		n.do(map[string]any{"cmd": "subscribe", "client": "a", "sub": "a-other", "query": watchOrder, "variables": map[string]any{"id": other.ID}})
		n.do(map[string]any{"cmd": "unsubscribe", "sub": subB})
		rtWaitFor(t, time.Minute, "b's subscription deleted, a's stored", func() bool {
			subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(other.ID))
			return err == nil && len(subs) == 1 && subs[0].ConnectionID != bConn
		})
		before := len(n.of("sub", subB))
		var o order
		rtWaitFor(t, 2*time.Minute, "the other order validated", func() bool {
			o = s.mustOrder(t, other.ID)
			return o.Status == "VALIDATED"
		})
		if _, err := s.payOrder(ctx, other.ID, o.TotalCents); err != nil {
			t.Fatal(err)
		}
		n.await(2*time.Minute, "a sees the other order assigned", hasStatus(n, "a-other", "DRIVER_ASSIGNED"))
		if after := n.of("sub", subB); len(after) != before {
			t.Fatalf("b got events after complete: %v", after[before:])
		}
	})

	t.Run("queries, errors and keep-alive with the graphql-ws client", func(t *testing.T) {
		n.do(map[string]any{"cmd": "connect", "client": "k", "url": s.wsURL(), "keepAlive": 50, "connectionParams": s.initPayload()})
		n.await(time.Minute, "client k connected", func(ev map[string]any) bool { return ev["event"] == "connected" && ev["client"] == "k" })
		n.await(time.Minute, "a pong for the client's ping", func(ev map[string]any) bool { return ev["event"] == "pong" && ev["client"] == "k" })
		n.do(map[string]any{"cmd": "subscribe", "client": "k", "sub": "k-query", "query": `query($id: ID!) { order(id: $id) { id status } }`, "variables": map[string]any{"id": watched.ID}})
		n.await(time.Minute, "query complete", func(ev map[string]any) bool { return ev["sub"] == "k-query" && ev["event"] == "complete" })
		got, raw := nextPayloads(t, n, "k-query")
		if len(got) != 1 || !strings.Contains(raw[0], `"order":{"id":"`+watched.ID+`","status":"DRIVER_ASSIGNED"}`) {
			t.Fatalf("query over the socket: %v", raw)
		}
		n.do(map[string]any{"cmd": "subscribe", "client": "k", "sub": "k-bad", "query": `subscription { orderUpdated(id: "x") { nope } }`})
		ev := n.await(time.Minute, "error for an invalid subscription", func(ev map[string]any) bool { return ev["sub"] == "k-bad" && ev["event"] == "error" })
		if g, _ := ev["error"].(map[string]any)["graphql"].([]any); len(g) == 0 {
			t.Fatalf("error event %v, want GraphQL errors", ev)
		}
		for _, ev := range n.of("client", "k") {
			if ev["event"] == "closed" {
				t.Fatalf("the connection closed: %v", ev)
			}
		}
	})

	t.Run("the graphql-ws client without a valid token is closed with 4403", func(t *testing.T) {
		for client, params := range map[string]map[string]string{
			"x-none":    {},
			"x-expired": {"authToken": s.Token(t, devissuer.Options{TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }})},
		} {
			n.do(map[string]any{"cmd": "connect", "client": client, "url": s.wsURL(), "connectionParams": params})
			ev := n.await(time.Minute, client+" closed", func(ev map[string]any) bool { return ev["client"] == client && ev["event"] == "closed" })
			if ev["code"] != float64(4403) || ev["reason"] != "Forbidden" {
				t.Fatalf("%s: %v, want close 4403 Forbidden", client, ev)
			}
			for _, e := range n.of("client", client) {
				if e["event"] == "connected" {
					t.Fatalf("%s was acknowledged: %v", client, e)
				}
			}
		}
	})

	t.Run("a dropped connection is cleaned up", func(t *testing.T) {
		n.do(map[string]any{"cmd": "connect", "client": "d", "url": s.wsURL(), "connectionParams": s.initPayload()})
		n.await(time.Minute, "client d connected", func(ev map[string]any) bool { return ev["event"] == "connected" && ev["client"] == "d" })
		dropped, err := s.placeOrder(ctx, "r-pizza", item("tiramisu", 1))
		if err != nil {
			t.Fatal(err)
		}
		topicID := dropped.ID
		n.do(map[string]any{"cmd": "subscribe", "client": "d", "sub": "d1", "query": watchOrder, "variables": map[string]any{"id": topicID}})
		var conn string
		rtWaitFor(t, time.Minute, "d's subscription stored", func() bool {
			subs, _ := st.SubscriptionsFor(ctx, gateway.OrderTopic(topicID))
			if len(subs) == 1 {
				conn = subs[0].ConnectionID
			}
			return conn != ""
		})
		if _, err := st.GetConnection(ctx, conn); err != nil {
			t.Fatalf("d's connection: %v", err)
		}
		n.do(map[string]any{"cmd": "terminate", "client": "d"})
		rtWaitFor(t, time.Minute, "d's rows deleted", func() bool {
			subs, err := st.SubscriptionsOf(ctx, conn)
			_, cerr := st.GetConnection(ctx, conn)
			return err == nil && len(subs) == 0 && errors.Is(cerr, store.ErrNotFound)
		})
		if subs, _ := st.SubscriptionsFor(ctx, gateway.OrderTopic(topicID)); len(subs) != 0 {
			t.Fatalf("topic still has %+v", subs)
		}
	})
}
