package gateway_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

func orderEvent(t *testing.T, table string, old, new *orders.Order) change.Event {
	t.Helper()
	e := change.Event{ID: "ev-1", Table: table, Operation: topology.Modify}
	id := ""
	for _, o := range []*orders.Order{old, new} {
		if o != nil {
			id = o.ID
		}
	}
	e.Keys, _ = json.Marshal(map[string]string{"id": id})
	if old != nil {
		e.Old, _ = json.Marshal(old)
	}
	if new != nil {
		e.New, _ = json.Marshal(new)
	} else {
		e.Operation = topology.Remove
	}
	return e
}

// as is the context of a caller with these claims (nil: none), as the
// fan-out and the WebSocket handler make it from a session.
func as(ctx context.Context, claims map[string]string) context.Context {
	if claims == nil {
		return ctx
	}
	return identity.With(ctx, identity.FromClaims(claims))
}

// subscribe runs a subscription operation once, as the realtime handler
// (at the start) and the fan-out (for each change) do, and returns the
// data it yielded and the errors.
func subscribe(t *testing.T, schema *graphql.Schema, ctx context.Context, query string, vars map[string]any) (data, errors []string) {
	t.Helper()
	ch, err := schema.Subscribe(ctx, query, "", vars)
	if err != nil {
		t.Fatal(err)
	}
	for r := range ch {
		b, _ := json.Marshal(r)
		var resp struct {
			Data   json.RawMessage
			Errors []json.RawMessage
		}
		_ = json.Unmarshal(b, &resp)
		for _, e := range resp.Errors {
			errors = append(errors, string(e))
		}
		if len(resp.Errors) == 0 {
			data = append(data, string(resp.Data))
		}
	}
	return data, errors
}

// The fan-out runs a stored orderUpdated operation with the change in the
// context, as the subscriber: it yields the new order, cut to what the
// subscriber may see, when the change is about it; nothing otherwise.
func TestOrderUpdated(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	schema, err := gateway.NewSchema(gateway.Deps{Store: a.store}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := a.store.Place(context.Background(), orders.Order{ID: "ord_stored", CustomerID: "alice", RestaurantID: "r-sushi", Items: []orders.Item{{MenuItemID: "miso-soup", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	reduced := orderEvent(t, orders.OrdersTable, nil, &stored)
	reduced.New, reduced.Reduced = nil, true
	paid := &orders.Order{ID: "ord_1", CustomerID: "alice", Status: orders.Paid, RestaurantID: "r-pizza", TotalCents: 900,
		Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}, Payments: []orders.Payment{{ID: "ch_1", AmountCents: 900}},
		PaymentIntent: &orders.PaymentIntent{ID: "pi_1", AmountCents: 900}, UpdatedAt: "t2"}
	validated := *paid
	validated.Status, validated.Payments, validated.UpdatedAt = orders.Validated, nil, "t1"
	paidChange := realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, &validated, paid))
	const query = `subscription($id: ID!) { orderUpdated(id: $id) { id status totalCents payments { id amountCents } paymentIntent { id } updatedAt } }`
	const whole = `{"orderUpdated":{"id":"ord_1","status":"PAID","totalCents":900,"payments":[{"id":"ch_1","amountCents":900}],"paymentIntent":{"id":"pi_1"},"updatedAt":"t2"}}`
	tests := []struct {
		name   string
		ctx    context.Context
		caller map[string]string
		id     string
		want   []string
	}{
		{"change of her order", paidChange, alice, "ord_1", []string{whole}},
		{"change of someone else's order", paidChange, bob, "ord_1", nil},
		{"staff of its restaurant: no payment details", paidChange, pat, "ord_1",
			[]string{`{"orderUpdated":{"id":"ord_1","status":"PAID","totalCents":900,"payments":[],"paymentIntent":null,"updatedAt":"t2"}}`}},
		{"staff of another restaurant", paidChange, sam, "ord_1", nil},
		{"no caller", paidChange, nobody, "ord_1", nil},
		{"change of another order", paidChange, alice, "ord_2", nil},
		{"change of another table", realtime.WithChange(context.Background(), orderEvent(t, orders.RestaurantsTable, &validated, paid)), alice, "ord_1", nil},
		{"removal", realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, paid, nil)), alice, "ord_1", nil},
		{"reduced change: the order is read", realtime.WithChange(context.Background(), reduced), alice, "ord_stored",
			[]string{`{"orderUpdated":{"id":"ord_stored","status":"PLACED","totalCents":0,"payments":[],"paymentIntent":null,"updatedAt":"2026-01-02T03:04:05.000000000Z"}}`}},
		{"reduced change of someone else's order", realtime.WithChange(context.Background(), reduced), bob, "ord_stored", nil},
		{"reduced change of another order", realtime.WithChange(context.Background(), reduced), alice, "ord_1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := subscribe(t, schema, as(tt.ctx, tt.caller), query, map[string]any{"id": tt.id})
			if len(errs) > 0 {
				t.Fatalf("errors %s: a push never carries an error of authorization", errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// restaurantOrderUpdated pushes each change of the restaurant's orders to
// its staff, without payment details; the subscriber is checked again for
// every change, so a stored subscription whose session no longer
// qualifies (the group removed, another restaurant) gets nothing.
func TestRestaurantOrderUpdated(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	schema, err := gateway.NewSchema(gateway.Deps{Store: a.store}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	paid := &orders.Order{ID: "ord_1", CustomerID: "alice", Status: orders.Paid, RestaurantID: "r-pizza", TotalCents: 900,
		Payments: []orders.Payment{{ID: "ch_1", AmountCents: 900}}, PaymentIntent: &orders.PaymentIntent{ID: "pi_1", AmountCents: 900}}
	validated := *paid
	validated.Status, validated.Payments = orders.Validated, nil
	sushi := *paid
	sushi.ID, sushi.RestaurantID = "ord_2", "r-sushi"
	pizzaChange := realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, &validated, paid))
	sushiChange := realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, nil, &sushi))
	const query = `subscription($r: ID!) { restaurantOrderUpdated(restaurantId: $r) { id status payments { id } paymentIntent { id } } }`
	const staffSees = `{"restaurantOrderUpdated":{"id":"ord_1","status":"PAID","payments":[],"paymentIntent":null}}`
	demoted := map[string]string{"sub": "pat", "custom:restaurantId": "r-pizza"}
	moved := map[string]string{"sub": "pat", "cognito:groups": "[restaurant]", "custom:restaurantId": "r-sushi"}
	tests := []struct {
		name       string
		ctx        context.Context
		caller     map[string]string
		restaurant string
		want       []string
	}{
		{"staff: a change of their restaurant's order", pizzaChange, pat, "r-pizza", []string{staffSees}},
		{"staff: another restaurant's order", sushiChange, pat, "r-pizza", nil},
		{"a session whose group was removed", pizzaChange, demoted, "r-pizza", nil},
		{"a session now of another restaurant", pizzaChange, moved, "r-pizza", nil},
		{"the customer (never stored: refused at the start)", pizzaChange, alice, "r-pizza", nil},
		{"the group without a restaurant", pizzaChange, eve, "r-pizza", nil},
		{"no caller", pizzaChange, nobody, "r-pizza", nil},
		{"removal", realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, paid, nil)), pat, "r-pizza", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := subscribe(t, schema, as(tt.ctx, tt.caller), query, map[string]any{"r": tt.restaurant})
			if len(errs) > 0 {
				t.Fatalf("errors %s: a push never carries an error of authorization", errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// At the start (no change in the context: the realtime handler runs the
// operation once when a client subscribes) each subscription decides
// whether the caller may have it: an error refuses it, and someone else's
// order is refused exactly as a missing one.
func TestSubscriptionStart(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	schema, err := gateway.NewSchema(gateway.Deps{Store: a.store}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Place(context.Background(), orders.Order{ID: "ord_s", CustomerID: "alice", RestaurantID: "r-sushi", Items: []orders.Item{{MenuItemID: "miso-soup", Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	const watchOrder = `subscription($id: ID!) { orderUpdated(id: $id) { id } }`
	const watchRestaurant = `subscription($r: ID!) { restaurantOrderUpdated(restaurantId: $r) { id } }`
	notFound := func(id string) string {
		return `{"message":"order \"` + id + `\" not found","extensions":{"code":"NOT_FOUND"}}`
	}
	forbidden := func(r string) string {
		return `{"message":"only the staff of restaurant \"` + r + `\" may watch its orders","extensions":{"code":"FORBIDDEN"}}`
	}
	const unauthenticated = `{"message":"this operation needs a signed-in caller","extensions":{"code":"UNAUTHENTICATED"}}`
	tests := []struct {
		name   string
		caller map[string]string
		query  string
		vars   map[string]any
		want   string // the error; "" when the subscription may start
	}{
		{"her order", alice, watchOrder, map[string]any{"id": "ord_s"}, ""},
		{"staff of its restaurant", sam, watchOrder, map[string]any{"id": "ord_s"}, ""},
		{"someone else's order", bob, watchOrder, map[string]any{"id": "ord_s"}, notFound("ord_s")},
		{"a missing order", bob, watchOrder, map[string]any{"id": "ord_x"}, notFound("ord_x")},
		{"staff of another restaurant", pat, watchOrder, map[string]any{"id": "ord_s"}, notFound("ord_s")},
		{"no caller", nobody, watchOrder, map[string]any{"id": "ord_s"}, unauthenticated},
		{"staff, their restaurant", pat, watchRestaurant, map[string]any{"r": "r-pizza"}, ""},
		{"staff, another restaurant", pat, watchRestaurant, map[string]any{"r": "r-sushi"}, forbidden("r-sushi")},
		{"a customer", alice, watchRestaurant, map[string]any{"r": "r-pizza"}, forbidden("r-pizza")},
		{"the group without a restaurant", eve, watchRestaurant, map[string]any{"r": "r-pizza"}, forbidden("r-pizza")},
		{"the restaurant without the group", mallet, watchRestaurant, map[string]any{"r": "r-pizza"}, forbidden("r-pizza")},
		{"no caller for a restaurant", nobody, watchRestaurant, map[string]any{"r": "r-pizza"}, unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate, err := graphqlhttp.NewGate(schema, graphqlhttp.Limits{}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			ctx := as(context.Background(), tt.caller)
			ch, err := schema.Subscribe(ctx, tt.query, "", tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for r := range ch {
				resp := r.(*graphql.Response)
				if len(resp.Errors) == 0 {
					t.Fatalf("the start yielded %s: it yields nothing", resp.Data)
				}
				// As the client sees it: through the gate's error mapping.
				got = append(got, string(gate.Errors(ctx, "", resp.Errors)))
			}
			want := []string(nil)
			if tt.want != "" {
				want = []string{"[" + tt.want + "]"}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	got, err := gateway.SubscriptionTopic("orderUpdated", map[string]any{"id": "ord_9"})
	if err != nil || got != "orderUpdated:ord_9" {
		t.Fatalf("SubscriptionTopic = %q, %v", got, err)
	}
	got, err = gateway.SubscriptionTopic("restaurantOrderUpdated", map[string]any{"restaurantId": "r-pizza"})
	if err != nil || got != "restaurantOrders:r-pizza" {
		t.Fatalf("SubscriptionTopic = %q, %v", got, err)
	}
	for _, bad := range []struct {
		field string
		args  map[string]any
	}{
		{"orderUpdated", nil},
		{"orderUpdated", map[string]any{"id": 7}},
		{"orderUpdated", map[string]any{"id": ""}},
		{"restaurantUpdated", map[string]any{"id": "x"}},
		{"restaurantOrderUpdated", map[string]any{"id": "r-pizza"}},
		{"restaurantOrderUpdated", map[string]any{"restaurantId": ""}},
	} {
		if topic, err := gateway.SubscriptionTopic(bad.field, bad.args); err == nil {
			t.Errorf("SubscriptionTopic(%s, %v) = %q, want an error", bad.field, bad.args, topic)
		}
	}
	o := &orders.Order{ID: "ord_9", Status: orders.Placed, RestaurantID: "r-pizza"}
	reduced := orderEvent(t, orders.OrdersTable, nil, o)
	reduced.New, reduced.Reduced = nil, true
	both := []string{"orderUpdated:ord_9", "restaurantOrders:r-pizza"}
	tests := []struct {
		name string
		e    change.Event
		want []string
	}{
		{"insert", orderEvent(t, orders.OrdersTable, nil, o), both},
		{"modify", orderEvent(t, orders.OrdersTable, o, o), both},
		{"remove: the restaurant from the old image", orderEvent(t, orders.OrdersTable, o, nil), both},
		{"reduced: no image, no restaurant", reduced, []string{"orderUpdated:ord_9"}},
		{"other table", orderEvent(t, orders.RestaurantsTable, nil, o), nil},
	}
	for _, tt := range tests {
		if got := gateway.ChangeTopics(tt.e); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ChangeTopics = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestOrderUpdatedSnapshot: asked for a snapshot (realtime.SnapshotFrom),
// orderUpdated yields the order as it is, cut to the caller's view; a
// caller who may not see it gets NOT_FOUND, as at any start.
func TestOrderUpdatedSnapshot(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	schema, err := gateway.NewSchema(gateway.Deps{Store: a.store}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Place(context.Background(), orders.Order{ID: "ord_snap", CustomerID: "alice", RestaurantID: "r-sushi", Items: []orders.Item{{MenuItemID: "miso-soup", Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	const q = `subscription($id: ID!, $after: String) { orderUpdated(id: $id, after: $after) { id status } }`
	for _, tt := range []struct {
		name   string
		caller map[string]string
		data   []string
		errs   int
	}{
		{"her order", alice, []string{`{"orderUpdated":{"id":"ord_snap","status":"PLACED"}}`}, 0},
		{"staff of its restaurant", sam, []string{`{"orderUpdated":{"id":"ord_snap","status":"PLACED"}}`}, 0},
		{"someone else", bob, nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := realtime.WithSnapshot(as(context.Background(), tt.caller))
			data, errs := subscribe(t, schema, ctx, q, map[string]any{"id": "ord_snap", "after": nil})
			if !reflect.DeepEqual(data, tt.data) || len(errs) != tt.errs {
				t.Fatalf("got %v, %v; want %v and %d errors", data, errs, tt.data, tt.errs)
			}
		})
	}
}
