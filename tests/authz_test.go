package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// as is the stack seen by another caller: every helper (placeOrder,
// payOrder, initPayload...) then sends that caller's token.
func (s *devStack) as(token string) *devStack {
	c := *s
	c.token = token
	return &c
}

// customer is a token of a customer with a subject of its own to this
// run (the stack's tables outlive it), and the subject.
func customer(t *testing.T, s *devStack, name string) (*devStack, string) {
	t.Helper()
	sub := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	return s.as(s.Token(t, devissuer.Options{Subject: sub})), sub
}

// staff is a token of restaurant staff, as `make token USER=… ROLE=restaurant
// RESTAURANT=…` mints it: the group in cognito:groups, the restaurant in
// custom:restaurantId.
func staff(t *testing.T, s *devStack, name, restaurant string) *devStack {
	t.Helper()
	return s.as(s.Token(t, devissuer.Options{Subject: name, Groups: []string{gateway.StaffGroup},
		Claims: map[string]any{"custom:" + gateway.RestaurantAttribute: restaurant}}))
}

// raw sends a GraphQL request over HTTP and returns the status and body
// as they came.
func (s *devStack) raw(t *testing.T, query string, vars map[string]any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// missingID is an order id that exists nowhere, as long as a real one.
func missingID() string { return orders.NewID("ord_") }

// sameModuloIDs fails unless a (about order ida) and b (about idb) are
// the same text once the ids are replaced.
func sameModuloIDs(t *testing.T, what, a, ida, b, idb string) {
	t.Helper()
	if strings.ReplaceAll(a, ida, "<id>") != strings.ReplaceAll(b, idb, "<id>") {
		t.Errorf("%s: someone else's order and a missing one answer differently:\n  someone else's %s\n  missing        %s", what, a, b)
	}
}

const staffWatch = `subscription($r: ID!) { restaurantOrderUpdated(restaurantId: $r) { id status restaurantId totalCents payments { id amountCents } paymentIntent { id amountCents } reason } }`

// staffPush is a restaurantOrderUpdated push.
type staffPush struct {
	ID, Status, RestaurantID string
	Payments                 []any
	PaymentIntent            any
}

func staffPushes(t *testing.T, n *nodeClient, sub string) []staffPush {
	t.Helper()
	var out []staffPush
	for _, ev := range n.of("sub", sub) {
		if ev["event"] != "next" {
			continue
		}
		b, _ := json.Marshal(ev["payload"])
		var p struct {
			Data   struct{ RestaurantOrderUpdated staffPush }
			Errors []any
		}
		if err := json.Unmarshal(b, &p); err != nil || len(p.Errors) > 0 {
			t.Fatalf("push %s: %v", b, err)
		}
		out = append(out, p.Data.RestaurantOrderUpdated)
	}
	return out
}

func staffSaw(n *nodeClient, sub, id, status string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		if ev["sub"] != sub || ev["event"] != "next" {
			return false
		}
		p, _ := ev["payload"].(map[string]any)
		d, _ := p["data"].(map[string]any)
		o, _ := d["restaurantOrderUpdated"].(map[string]any)
		return o["id"] == id && o["status"] == status
	}
}

// subscriptionError is the error event of a subscription, as the
// graphql-ws client reports it.
func subscriptionError(t *testing.T, n *nodeClient, sub string) string {
	t.Helper()
	ev := n.await(time.Minute, "the error of "+sub, func(ev map[string]any) bool { return ev["sub"] == sub && ev["event"] == "error" })
	b, _ := json.Marshal(ev["error"])
	return string(b)
}

// TestAuthorizationE2E holds the reference app's authorization over real
// HTTP and real sockets against the dev runtime (cmd/dev), with tokens of
// its issuer: an order is its customer's, and to anyone else it is
// exactly a missing order (read, paid, subscribed to); subscriptions push
// each session only what it may see; myOrders lists each customer's own;
// restaurant staff see their restaurant's orders, live and listed, never
// another restaurant's and never a payment detail; a customer cannot list
// a restaurant's orders; a stored subscription whose session no longer
// qualifies gets no push.
func TestAuthorizationE2E(t *testing.T) {
	ctx := context.Background()
	s := startDev(t)
	st := realtimeStore(t)
	alice, aliceSub := customer(t, s, "alice")
	bob, _ := customer(t, s, "bob")
	pat := staff(t, s, "pat", "r-pizza")
	sam := staff(t, s, "sam", "r-sushi")

	t.Run("someone else's order reads, pays and subscribes as a missing one", func(t *testing.T) {
		mine, err := alice.placeOrder(ctx, "r-pizza", item("margherita", 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.waitFor(ctx, mine.ID, "VALIDATED"); err != nil {
			t.Fatal(err)
		}
		nope := missingID()
		for _, q := range []string{
			`query($id: ID!) { order(id: $id) { id status payments { id } } }`,
			`mutation($id: ID!) { payOrder(input: {orderId: $id, amountCents: 900}) { id status } }`,
		} {
			sa, a := bob.raw(t, q, map[string]any{"id": mine.ID})
			sb, b := bob.raw(t, q, map[string]any{"id": nope})
			if sa != http.StatusOK || sb != http.StatusOK {
				t.Errorf("%s: status %d and %d", q, sa, sb)
			}
			sameModuloIDs(t, q, a, mine.ID, b, nope)
			if strings.Contains(a, `"status"`) {
				t.Errorf("%s: bob sees alice's order: %s", q, a)
			}
		}
		// Over the socket: the same error message, and nothing stored.
		c := wsConnect(t, bob)
		subscribe := func(id string) string {
			c.send(`{"id":"w","type":"subscribe","payload":{"query":"subscription($id: ID!) { orderUpdated(id: $id) { id status } }","variables":{"id":"` + id + `"}}}`)
			m := c.read()
			if m.Type != wsproto.Error {
				t.Fatalf("bob's subscription to %s: %s %s, want an error", id, m.Type, m.Payload)
			}
			b, _ := json.Marshal(m)
			return string(b)
		}
		other, missing := subscribe(mine.ID), subscribe(nope)
		sameModuloIDs(t, "orderUpdated", other, mine.ID, missing, nope)
		if !strings.Contains(other, `"code":"NOT_FOUND"`) {
			t.Errorf("bob's subscription to alice's order: %s, want NOT_FOUND", other)
		}
		if subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(mine.ID)); err != nil || len(subs) != 0 {
			t.Errorf("bob's refused subscription was stored: %+v, %v", subs, err)
		}
		// And the order is untouched by bob's payOrder.
		if o := alice.mustOrder(t, mine.ID); o.Status != "VALIDATED" || len(o.Payments) != 0 {
			t.Errorf("alice's order after bob's payOrder: %+v", o)
		}
	})

	t.Run("live: each session is pushed only what it may see", func(t *testing.T) {
		n := startNode(t)
		for c, who := range map[string]*devStack{"a": alice, "b": bob, "p": pat, "s": sam} {
			n.do(map[string]any{"cmd": "connect", "client": c, "url": s.wsURL(), "connectionParams": who.initPayload()})
			n.await(time.Minute, "client "+c+" connected", func(ev map[string]any) bool { return ev["event"] == "connected" && ev["client"] == c })
		}
		// Authorized at the start: a customer, and staff of another
		// restaurant, are refused.
		n.do(map[string]any{"cmd": "subscribe", "client": "a", "sub": "a-staff", "query": staffWatch, "variables": map[string]any{"r": "r-pizza"}})
		n.do(map[string]any{"cmd": "subscribe", "client": "p", "sub": "p-sushi", "query": staffWatch, "variables": map[string]any{"r": "r-sushi"}})
		for sub, r := range map[string]string{"a-staff": "r-pizza", "p-sushi": "r-sushi"} {
			got := subscriptionError(t, n, sub)
			want := `{"graphql":[{"message":"only the staff of restaurant \"` + r + `\" may watch its orders","path":["restaurantOrderUpdated"],"extensions":{"code":"FORBIDDEN"}}]}`
			var g, w any
			_ = json.Unmarshal([]byte(got), &g)
			_ = json.Unmarshal([]byte(want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s: %s, want %s", sub, got, want)
			}
		}
		n.do(map[string]any{"cmd": "subscribe", "client": "p", "sub": "p-pizza", "query": staffWatch, "variables": map[string]any{"r": "r-pizza"}})
		n.do(map[string]any{"cmd": "subscribe", "client": "s", "sub": "s-sushi", "query": staffWatch, "variables": map[string]any{"r": "r-sushi"}})
		rtWaitFor(t, time.Minute, "the staff subscriptions stored", func() bool {
			p, err1 := st.SubscriptionsFor(ctx, gateway.RestaurantTopic("r-pizza"))
			q, err2 := st.SubscriptionsFor(ctx, gateway.RestaurantTopic("r-sushi"))
			return err1 == nil && err2 == nil && len(p) == 1 && len(q) == 1
		})
		// (Only pat's and sam's: the refused ones were not stored.)

		watched, subA := subscribeToNewOrder(t, alice, n, "a", "a")
		// Bob asks for alice's order and for a missing one: the same error.
		nope := missingID()
		n.do(map[string]any{"cmd": "subscribe", "client": "b", "sub": "b-other", "query": watchOrder, "variables": map[string]any{"id": watched.ID}})
		n.do(map[string]any{"cmd": "subscribe", "client": "b", "sub": "b-missing", "query": watchOrder, "variables": map[string]any{"id": nope}})
		sameModuloIDs(t, "graphql-ws orderUpdated", subscriptionError(t, n, "b-other"), watched.ID, subscriptionError(t, n, "b-missing"), nope)

		sushi, err := alice.placeOrder(ctx, "r-sushi", item("miso-soup", 1))
		if err != nil {
			t.Fatal(err)
		}
		// The snapshot or the change: VALIDATED reaches the subscriber either way.
		ev := n.await(2*time.Minute, "VALIDATED", hasStatus(n, subA, "VALIDATED"))
		total := int(ev["payload"].(map[string]any)["data"].(map[string]any)["orderUpdated"].(map[string]any)["totalCents"].(float64))
		if _, err := alice.payOrder(ctx, watched.ID, total); err != nil {
			t.Fatal(err)
		}
		n.await(2*time.Minute, "alice's DRIVER_ASSIGNED", hasStatus(n, subA, "DRIVER_ASSIGNED"))
		n.await(2*time.Minute, "pat's DRIVER_ASSIGNED", staffSaw(n, "p-pizza", watched.ID, "DRIVER_ASSIGNED"))
		n.await(2*time.Minute, "sam's VALIDATED", staffSaw(n, "s-sushi", sushi.ID, "VALIDATED"))

		// Alice saw every step of hers, the charge included.
		got, raw := nextPayloads(t, n, subA)
		var steps []string
		for i, p := range got {
			if p.Data.OrderUpdated.ID != watched.ID || len(p.Errors) > 0 {
				t.Fatalf("alice's push %d: %s", i, raw[i])
			}
			if len(steps) == 0 || steps[len(steps)-1] != p.Data.OrderUpdated.Status {
				steps = append(steps, p.Data.OrderUpdated.Status)
			}
		}
		// (PLACED too, when the fan-out read the insert after the
		// subscription was stored.)
		if len(steps) > 0 && steps[0] == "PLACED" {
			steps = steps[1:]
		}
		if want := []string{"VALIDATED", "PAID", "APPROVED", "DRIVER_ASSIGNED"}; !slices.Equal(steps, want) {
			t.Errorf("alice's steps %v, want %v", steps, want)
		}
		if !slices.ContainsFunc(got, func(p pushed) bool { return p.Data.OrderUpdated.PaymentIntent != nil }) {
			t.Errorf("alice never saw her payment intent: %v", raw)
		}
		// Bob got nothing but his two errors.
		for _, sub := range []string{"b-other", "b-missing"} {
			for _, e := range n.of("sub", sub) {
				if e["event"] == "next" {
					t.Errorf("bob's %s was pushed %v", sub, e)
				}
			}
		}
		// Each restaurant's staff saw every step of its orders only, and
		// never a payment detail.
		for sub, want := range map[string]struct {
			restaurant, order string
			steps             []string
		}{
			"p-pizza": {"r-pizza", watched.ID, []string{"PLACED", "VALIDATED", "PAID", "APPROVED", "DRIVER_ASSIGNED"}},
			"s-sushi": {"r-sushi", sushi.ID, []string{"PLACED", "VALIDATED"}},
		} {
			var steps []string
			for _, p := range staffPushes(t, n, sub) {
				if p.RestaurantID != want.restaurant {
					t.Errorf("%s was pushed an order of %s: %+v", sub, p.RestaurantID, p)
				}
				if len(p.Payments) != 0 || p.PaymentIntent != nil {
					t.Errorf("%s was pushed payment details: %+v", sub, p)
				}
				if p.ID == want.order && (len(steps) == 0 || steps[len(steps)-1] != p.Status) {
					steps = append(steps, p.Status)
				}
			}
			if !slices.Equal(steps, want.steps) {
				t.Errorf("%s saw %s go %v, want %v", sub, want.order, steps, want.steps)
			}
		}
	})

	t.Run("myOrders: each their own, newest first", func(t *testing.T) {
		var aliceIDs, bobIDs []string
		for i := range 3 {
			for _, c := range []struct {
				who *devStack
				ids *[]string
			}{{alice, &aliceIDs}, {bob, &bobIDs}} {
				o, err := c.who.placeOrder(ctx, []string{"r-pizza", "r-sushi"}[i%2], item("margherita", 1))
				if err != nil {
					t.Fatal(err)
				}
				*c.ids = append(*c.ids, o.ID)
			}
		}
		const q = `query($after: String) { myOrders(first: 2, after: $after) { orders { id } nextCursor } }`
		list := func(who *devStack) []string {
			var ids []string
			var after any
			for {
				var out struct {
					MyOrders struct {
						Orders     []struct{ ID string }
						NextCursor *string
					}
				}
				if err := who.do(ctx, q, map[string]any{"after": after}, &out); err != nil {
					t.Fatal(err)
				}
				for _, o := range out.MyOrders.Orders {
					ids = append(ids, o.ID)
				}
				if out.MyOrders.NextCursor == nil {
					return ids
				}
				after = *out.MyOrders.NextCursor
			}
		}
		// Newest first: the orders of this subtest lead alice's listing,
		// and bob's listing is exactly his.
		newestFirst := func(ids []string) []string { r := slices.Clone(ids); slices.Reverse(r); return r }
		var a, b []string
		rtWaitFor(t, time.Minute, "the listings to hold the new orders", func() bool {
			a, b = list(alice), list(bob)
			return len(a) >= len(aliceIDs) && slices.Equal(a[:len(aliceIDs)], newestFirst(aliceIDs)) && slices.Equal(b, newestFirst(bobIDs))
		})
		// The owner is the placer's subject, from the token.
		if o := storedOrder(t, aliceIDs[0]); o.CustomerID != aliceSub {
			t.Errorf("alice's order is %q's, want %q", o.CustomerID, aliceSub)
		}
		for _, id := range a {
			if slices.Contains(bobIDs, id) {
				t.Errorf("alice's listing holds bob's order %s", id)
			}
			if o := alice.mustOrder(t, id); o.ID != id {
				t.Errorf("alice lists %s but cannot read it", id)
			}
		}
	})

	t.Run("restaurantOrders: staff only, their restaurant only, no payment details", func(t *testing.T) {
		const q = `query($r: ID!) { restaurantOrders(restaurantId: $r, first: 100) { orders { id restaurantId status payments { id } paymentIntent { id } } } }`
		var out struct {
			RestaurantOrders struct {
				Orders []struct {
					ID, RestaurantID, Status string
					Payments                 []any
					PaymentIntent            any
				}
			}
		}
		if err := pat.do(ctx, q, map[string]any{"r": "r-pizza"}, &out); err != nil {
			t.Fatal(err)
		}
		paid := 0
		for _, o := range out.RestaurantOrders.Orders {
			if o.RestaurantID != "r-pizza" || len(o.Payments) != 0 || o.PaymentIntent != nil {
				t.Errorf("pat listed %+v", o)
			}
			if o.Status == "DRIVER_ASSIGNED" {
				paid++
			}
		}
		if len(out.RestaurantOrders.Orders) == 0 || paid == 0 {
			t.Errorf("pat listed %d orders, %d of them paid: want the paid order of the live subtest", len(out.RestaurantOrders.Orders), paid)
		}
		for _, c := range []struct {
			name string
			who  *devStack
			r    string
		}{{"a customer", alice, "r-pizza"}, {"staff of another restaurant", sam, "r-pizza"}, {"staff, another restaurant", pat, "r-sushi"}} {
			status, body := c.who.raw(t, q, map[string]any{"r": c.r})
			want := `{"errors":[{"message":"only the staff of restaurant \"` + c.r + `\" may list its orders","path":["restaurantOrders"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`
			if status != http.StatusOK || body != want {
				t.Errorf("%s: %d %s, want %s", c.name, status, body, want)
			}
		}
	})

	t.Run("a stored session that no longer qualifies gets no push", func(t *testing.T) {
		n := startNode(t)
		stale, live := staff(t, s, "pat-stale", "r-pizza"), staff(t, s, "pat-live", "r-pizza")
		for c, who := range map[string]*devStack{"stale": stale, "live": live} {
			n.do(map[string]any{"cmd": "connect", "client": c, "url": s.wsURL(), "connectionParams": who.initPayload()})
			n.await(time.Minute, "client "+c+" connected", func(ev map[string]any) bool { return ev["event"] == "connected" && ev["client"] == c })
			n.do(map[string]any{"cmd": "subscribe", "client": c, "sub": c, "query": staffWatch, "variables": map[string]any{"r": "r-pizza"}})
		}
		// stored is the subscription to r-pizza of subject's session.
		stored := func(subject string) (store.Subscription, bool) {
			subs, err := st.SubscriptionsFor(ctx, gateway.RestaurantTopic("r-pizza"))
			if err != nil {
				t.Fatal(err)
			}
			for _, sub := range subs {
				if id, _, _ := realtime.SessionIdentity(sub.Session); id.Subject == subject {
					return sub, true
				}
			}
			return store.Subscription{}, false
		}
		var staleSub store.Subscription
		rtWaitFor(t, time.Minute, "both stored", func() bool {
			var ok bool
			staleSub, ok = stored("pat-stale")
			_, live := stored("pat-live")
			return ok && live
		})
		first, err := alice.placeOrder(ctx, "r-pizza", item("tiramisu", 1))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"stale", "live"} {
			n.await(time.Minute, c+" pushed the first order", staffSaw(n, c, first.ID, "PLACED"))
		}
		n.await(time.Minute, "the first order settled", staffSaw(n, "live", first.ID, "VALIDATED"))

		// The session stored with the subscription loses the group, as
		// if the staff member had been removed from it: the resolver's
		// check on each push now refuses it.
		id, _, err := realtime.SessionIdentity(staleSub.Session)
		if err != nil {
			t.Fatal(err)
		}
		id.Groups = nil
		delete(id.Claims, identity.DefaultGroupsClaim)
		if staleSub.Session, err = realtime.Session(&id); err != nil {
			t.Fatal(err)
		}
		if err := st.PutSubscriptions(ctx, []store.Subscription{staleSub}); err != nil {
			t.Fatal(err)
		}
		second, err := alice.placeOrder(ctx, "r-pizza", item("tiramisu", 1))
		if err != nil {
			t.Fatal(err)
		}
		// Both changes of the second order reached the live session; the
		// fan-out handles a change's subscribers together, before the next
		// change, so the stale one had its chance at the first.
		n.await(time.Minute, "live pushed the second order", staffSaw(n, "live", second.ID, "VALIDATED"))
		for _, p := range staffPushes(t, n, "stale") {
			if p.ID == second.ID {
				t.Errorf("the stale session was pushed %+v", p)
			}
		}
		for _, e := range n.of("client", "stale") {
			if e["event"] == "closed" {
				t.Errorf("the stale session's connection was closed: %v", e)
			}
		}
		if _, ok := stored("pat-stale"); !ok {
			t.Errorf("the stale subscription is gone: it should stay, and be pushed nothing")
		}
	})
}
