package gateway_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/graphqlhttp"
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

// The fan-out runs a stored orderUpdated operation with the change in the
// context: it yields the new order when the change is about it, nothing
// otherwise.
func TestOrderUpdated(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	schema, err := gateway.NewSchema(gateway.Deps{Store: a.store}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := a.store.Place(context.Background(), orders.Order{ID: "ord_stored", RestaurantID: "r-sushi", Items: []orders.Item{{MenuItemID: "miso-soup", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	reduced := orderEvent(t, orders.OrdersTable, nil, &stored)
	reduced.New, reduced.Reduced = nil, true
	paid := &orders.Order{ID: "ord_1", Status: orders.Paid, RestaurantID: "r-pizza", TotalCents: 900,
		Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}, Payments: []orders.Payment{{ID: "ch_1", AmountCents: 900}}, UpdatedAt: "t2"}
	validated := *paid
	validated.Status, validated.Payments, validated.UpdatedAt = orders.Validated, nil, "t1"
	const query = `subscription($id: ID!) { orderUpdated(id: $id) { id status totalCents payments { id amountCents } updatedAt } }`
	tests := []struct {
		name string
		ctx  context.Context
		id   string
		want []string
	}{
		{"change of this order", realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, &validated, paid)), "ord_1",
			[]string{`{"orderUpdated":{"id":"ord_1","status":"PAID","totalCents":900,"payments":[{"id":"ch_1","amountCents":900}],"updatedAt":"t2"}}`}},
		{"change of another order", realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, &validated, paid)), "ord_2", nil},
		{"change of another table", realtime.WithChange(context.Background(), orderEvent(t, orders.RestaurantsTable, &validated, paid)), "ord_1", nil},
		{"removal", realtime.WithChange(context.Background(), orderEvent(t, orders.OrdersTable, paid, nil)), "ord_1", nil},
		{"no change in context", context.Background(), "ord_1", nil},
		{"reduced change: the order is read", realtime.WithChange(context.Background(), reduced), "ord_stored",
			[]string{`{"orderUpdated":{"id":"ord_stored","status":"PLACED","totalCents":0,"payments":[],"updatedAt":"2026-01-02T03:04:05Z"}}`}},
		{"reduced change of another order", realtime.WithChange(context.Background(), reduced), "ord_1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := schema.Subscribe(tt.ctx, query, "", map[string]any{"id": tt.id})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for r := range ch {
				b, _ := json.Marshal(r)
				var resp struct {
					Data   json.RawMessage
					Errors []any
				}
				_ = json.Unmarshal(b, &resp)
				if len(resp.Errors) > 0 {
					t.Fatalf("errors: %s", b)
				}
				got = append(got, string(resp.Data))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	got, err := gateway.SubscriptionTopic("orderUpdated", map[string]any{"id": "ord_9"})
	if err != nil || got != "orderUpdated:ord_9" {
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
	} {
		if topic, err := gateway.SubscriptionTopic(bad.field, bad.args); err == nil {
			t.Errorf("SubscriptionTopic(%s, %v) = %q, want an error", bad.field, bad.args, topic)
		}
	}
	o := &orders.Order{ID: "ord_9", Status: orders.Placed}
	reduced := orderEvent(t, orders.OrdersTable, nil, o)
	reduced.New, reduced.Reduced = nil, true
	tests := []struct {
		name string
		e    change.Event
		want []string
	}{
		{"insert", orderEvent(t, orders.OrdersTable, nil, o), []string{"orderUpdated:ord_9"}},
		{"remove", orderEvent(t, orders.OrdersTable, o, nil), []string{"orderUpdated:ord_9"}},
		{"reduced", reduced, []string{"orderUpdated:ord_9"}},
		{"other table", orderEvent(t, orders.RestaurantsTable, nil, o), nil},
	}
	for _, tt := range tests {
		if got := gateway.ChangeTopics(tt.e); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ChangeTopics = %q, want %q", tt.name, got, tt.want)
		}
	}
}
