package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

// authzFixture places, a second apart: alice's a1 (r-pizza, PAID with
// its charge), bob's b1 (r-pizza), alice's a2 (r-sushi, PAYMENT_FAILED)
// and alice's a3 (r-pizza, PLACED). ids maps a1... to their ids.
func authzFixture(t *testing.T, a *api) map[string]string {
	t.Helper()
	ctx := context.Background()
	var tick atomic.Int64
	a.store.Now = func() time.Time { return fixedNow.Add(time.Duration(tick.Add(1)) * time.Second) }
	ids := map[string]string{}
	place := func(name, customer, restaurant string) string {
		o, err := a.store.Place(ctx, orders.Order{ID: "ord_" + name, CustomerID: customer, RestaurantID: restaurant,
			Items: []orders.Item{{MenuItemID: "x", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = o.ID
		return o.ID
	}
	a1 := place("a1", "alice", "r-pizza")
	place("b1", "bob", "r-pizza")
	a2 := place("a2", "alice", "r-sushi")
	place("a3", "alice", "r-pizza")
	for _, id := range []string{a1, a2} {
		if _, err := a.store.Validate(ctx, id, 900); err != nil {
			t.Fatal(err)
		}
		if _, err := a.store.RecordIntent(ctx, id, orders.PaymentIntent{ID: "pi_" + id, AmountCents: 900}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.store.RecordPayment(ctx, a1, "pi_"+a1, orders.Payment{ID: "ch_1", AmountCents: 900}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.FailPayment(ctx, a2, "pi_"+a2, "payment declined: amount 900 cents does not match"); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Who may read, pay, list what: an order of someone else is exactly a
// missing order; staff see their restaurant's orders without payment
// details; no operation runs without a caller.
func TestAuthorization(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	authzFixture(t, a)
	const sel = `id status payments { id } paymentIntent { id } reason`
	const list = `{ myOrders { orders { id } nextCursor } }`
	tests := []struct {
		name   string
		caller map[string]string
		query  string
		want   string
	}{
		{"the customer reads her order whole", alice, `{ order(id: "ord_a1") { ` + sel + ` } }`,
			`{"data":{"order":{"id":"ord_a1","status":"PAID","payments":[{"id":"ch_1"}],"paymentIntent":{"id":"pi_ord_a1"},"reason":null}}}`},
		{"another customer reads null", bob, `{ order(id: "ord_a1") { ` + sel + ` } }`, `{"data":{"order":null}}`},
		{"staff of the restaurant read it without payment details", pat, `{ order(id: "ord_a1") { ` + sel + ` } }`,
			`{"data":{"order":{"id":"ord_a1","status":"PAID","payments":[],"paymentIntent":null,"reason":null}}}`},
		{"staff see no reason of a failed payment", sam, `{ order(id: "ord_a2") { ` + sel + ` } }`,
			`{"data":{"order":{"id":"ord_a2","status":"PAYMENT_FAILED","payments":[],"paymentIntent":null,"reason":null}}}`},
		{"the customer sees why her payment failed", alice, `{ order(id: "ord_a2") { status reason } }`,
			`{"data":{"order":{"status":"PAYMENT_FAILED","reason":"payment declined: amount 900 cents does not match"}}}`},
		{"staff of another restaurant read null", sam, `{ order(id: "ord_a1") { id } }`, `{"data":{"order":null}}`},
		{"the group without a restaurant reads null", eve, `{ order(id: "ord_a1") { id } }`, `{"data":{"order":null}}`},
		{"a restaurant claim without the group reads null", mallet, `{ order(id: "ord_a1") { id } }`, `{"data":{"order":null}}`},
		{"staff may not pay", pat, `mutation { payOrder(input: {orderId: "ord_a3", amountCents: 900}) { id } }`,
			`{"errors":[{"message":"order \"ord_a3\" can be paid only by the customer who placed it","path":["payOrder"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`},
		{"another customer's payOrder is NOT_FOUND", bob, `mutation { payOrder(input: {orderId: "ord_a3", amountCents: 900}) { id } }`,
			`{"errors":[{"message":"order \"ord_a3\" not found","path":["payOrder"],"extensions":{"code":"NOT_FOUND"}}],"data":null}`},
		{"alice lists hers, newest first", alice, list,
			`{"data":{"myOrders":{"orders":[{"id":"ord_a3"},{"id":"ord_a2"},{"id":"ord_a1"}],"nextCursor":null}}}`},
		{"a page with every field is within the cost limit", bob, `{ myOrders { orders { id ` + orderFields + ` } nextCursor } }`,
			`{"data":{"myOrders":{"orders":[{"id":"ord_b1","status":"PLACED","restaurantId":"r-pizza","items":[{"menuItemId":"x","quantity":1}],
				"totalCents":0,"payments":[],"paymentIntent":null,"driverId":null,"reason":null,
				"createdAt":"2026-01-02T03:04:07.000000000Z","updatedAt":"2026-01-02T03:04:07.000000000Z"}],"nextCursor":null}}}`},
		{"bob lists his", bob, list, `{"data":{"myOrders":{"orders":[{"id":"ord_b1"}],"nextCursor":null}}}`},
		{"staff list their own orders as customers: none", pat, list, `{"data":{"myOrders":{"orders":[],"nextCursor":null}}}`},
		{"staff list their restaurant's orders without payment details", pat, `{ restaurantOrders(restaurantId: "r-pizza") { orders { ` + sel + ` } nextCursor } }`,
			`{"data":{"restaurantOrders":{"orders":[
				{"id":"ord_a3","status":"PLACED","payments":[],"paymentIntent":null,"reason":null},
				{"id":"ord_b1","status":"PLACED","payments":[],"paymentIntent":null,"reason":null},
				{"id":"ord_a1","status":"PAID","payments":[],"paymentIntent":null,"reason":null}],"nextCursor":null}}}`},
		{"staff of another restaurant may not list it", pat, `{ restaurantOrders(restaurantId: "r-sushi") { orders { id } } }`,
			`{"errors":[{"message":"only the staff of restaurant \"r-sushi\" may list its orders","path":["restaurantOrders"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`},
		{"a customer may not list a restaurant's orders", alice, `{ restaurantOrders(restaurantId: "r-pizza") { orders { id } } }`,
			`{"errors":[{"message":"only the staff of restaurant \"r-pizza\" may list its orders","path":["restaurantOrders"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`},
		{"nor may the group without the restaurant", eve, `{ restaurantOrders(restaurantId: "r-pizza") { orders { id } } }`,
			`{"errors":[{"message":"only the staff of restaurant \"r-pizza\" may list its orders","path":["restaurantOrders"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`},
		{"nor the restaurant without the group", mallet, `{ restaurantOrders(restaurantId: "r-pizza") { orders { id } } }`,
			`{"errors":[{"message":"only the staff of restaurant \"r-pizza\" may list its orders","path":["restaurantOrders"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`},
		{"an unknown restaurant is FORBIDDEN too", alice, `{ restaurantOrders(restaurantId: "r-nope") { orders { id } } }`,
			`{"errors":[{"message":"only the staff of restaurant \"r-nope\" may list its orders","path":["restaurantOrders"],"extensions":{"code":"FORBIDDEN"}}],"data":null}`},
		{"a page too large", alice, `{ myOrders(first: 101) { orders { id } } }`,
			`{"errors":[{"message":"first must be 1 to 100, got 101","path":["myOrders"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`},
		{"an empty page", alice, `{ myOrders(first: 0) { orders { id } } }`,
			`{"errors":[{"message":"first must be 1 to 100, got 0","path":["myOrders"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`},
		{"a forged cursor", alice, `{ myOrders(after: "not-a-cursor") { orders { id } } }`,
			`{"errors":[{"message":"after is not a cursor of this listing: pass the nextCursor of its previous page","path":["myOrders"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`},
		{"restaurants are readable by any signed-in caller", bob, `{ restaurants { id } }`,
			`{"data":{"restaurants":[{"id":"r-pizza"},{"id":"r-sushi"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jsonEqual(t, a.gqlAs(t, tt.caller, tt.query, nil), tt.want)
		})
	}

	t.Run("nothing runs without a caller", func(t *testing.T) {
		for field, q := range map[string]string{
			"restaurants":      `{ restaurants { id } }`,
			"order":            `{ order(id: "ord_a1") { id } }`,
			"myOrders":         list,
			"restaurantOrders": `{ restaurantOrders(restaurantId: "r-pizza") { orders { id } } }`,
			"placeOrder":       `mutation { placeOrder(input: {restaurantId: "r-pizza", items: [{menuItemId: "margherita", quantity: 1}]}) { id } }`,
			"payOrder":         `mutation { payOrder(input: {orderId: "ord_a3", amountCents: 900}) { id } }`,
		} {
			got := string(a.gqlAs(t, nobody, q, nil))
			if !strings.Contains(got, `"code":"UNAUTHENTICATED"`) || strings.Contains(got, "ord_a") || strings.Contains(got, "Pizza") {
				t.Errorf("%s without a caller: %s", field, got)
			}
		}
	})

	t.Run("someone else's order answers exactly as a missing one", func(t *testing.T) {
		for _, q := range []string{
			`query($id: ID!) { order(id: $id) { id } }`,
			`mutation($id: ID!) { payOrder(input: {orderId: $id, amountCents: 900}) { id } }`,
		} {
			other := a.gqlAs(t, bob, q, map[string]any{"id": "ord_a3"})
			missing := a.gqlAs(t, bob, q, map[string]any{"id": "ord_zz"})
			if got, want := strings.ReplaceAll(string(other), "ord_a3", "ID"), strings.ReplaceAll(string(missing), "ord_zz", "ID"); got != want {
				t.Errorf("%s:\n  someone else's %s\n  missing       %s", q, other, missing)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		after := any(nil)
		for range 4 {
			var resp struct {
				Data struct {
					MyOrders struct {
						Orders     []struct{ ID string }
						NextCursor *string
					}
				}
			}
			body := a.gqlAs(t, alice, `query($after: String) { myOrders(first: 2, after: $after) { orders { id } nextCursor } }`, map[string]any{"after": after})
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			for _, o := range resp.Data.MyOrders.Orders {
				got = append(got, o.ID)
			}
			if resp.Data.MyOrders.NextCursor == nil {
				break
			}
			after = *resp.Data.MyOrders.NextCursor
			// A cursor of one listing is refused by another.
			wrong := a.gqlAs(t, pat, `query($after: String) { restaurantOrders(restaurantId: "r-pizza", after: $after) { orders { id } } }`, map[string]any{"after": after})
			if !strings.Contains(string(wrong), "BAD_USER_INPUT") {
				t.Fatalf("myOrders' cursor in restaurantOrders: %s", wrong)
			}
		}
		if strings.Join(got, ",") != "ord_a3,ord_a2,ord_a1" {
			t.Fatalf("pages of 2 listed %v", got)
		}
	})
}
