package validateorder_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/functions/validateorder"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

var pizza = orders.SeedRestaurants[0]

func items(its ...orders.Item) []orders.Item { return its }

func TestDecide(t *testing.T) {
	many := make([]orders.Item, orders.MaxLines+1)
	for i := range many {
		many[i] = orders.Item{MenuItemID: "margherita", Quantity: 1}
	}
	tests := []struct {
		name       string
		items      []orders.Item
		restaurant *orders.Restaurant
		want       orders.Status
		total      int64
		reason     string
	}{
		{"one line", items(orders.Item{MenuItemID: "margherita", Quantity: 2}), &pizza, orders.Validated, 1800, ""},
		{"several lines", items(orders.Item{MenuItemID: "margherita", Quantity: 1}, orders.Item{MenuItemID: "tiramisu", Quantity: 3}), &pizza, orders.Validated, 900 + 3*550, ""},
		{"max quantity", items(orders.Item{MenuItemID: "diavola", Quantity: 50}), &pizza, orders.Validated, 50 * 1100, ""},
		{"unknown dish", items(orders.Item{MenuItemID: "sushi", Quantity: 1}), &pizza, orders.Rejected, 0, `"sushi" is not on the menu of Pizza Palace`},
		{"zero quantity", items(orders.Item{MenuItemID: "margherita", Quantity: 0}), &pizza, orders.Rejected, 0, "quantity 0 is outside 1..50"},
		{"negative quantity", items(orders.Item{MenuItemID: "margherita", Quantity: -2}), &pizza, orders.Rejected, 0, "quantity -2 is outside 1..50"},
		{"quantity over 50", items(orders.Item{MenuItemID: "margherita", Quantity: 51}), &pizza, orders.Rejected, 0, "quantity 51 is outside 1..50"},
		{"second line bad", items(orders.Item{MenuItemID: "margherita", Quantity: 1}, orders.Item{MenuItemID: "nope", Quantity: 1}), &pizza, orders.Rejected, 0, "item 2"},
		{"no items", nil, &pizza, orders.Rejected, 0, "no items"},
		{"too many lines", many, &pizza, orders.Rejected, 0, "at most 50"},
		{"restaurant gone", items(orders.Item{MenuItemID: "margherita", Quantity: 1}), nil, orders.Rejected, 0, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validateorder.Decide(orders.Order{ID: "o", RestaurantID: "r-pizza", Items: tt.items}, tt.restaurant)
			if d.Status != tt.want || d.TotalCents != tt.total || !strings.Contains(d.Reason, tt.reason) || (tt.reason == "") != (d.Reason == "") {
				t.Fatalf("Decide = %+v, want status %s total %d reason containing %q", d, tt.want, tt.total, tt.reason)
			}
		})
	}
}

func TestHandleOnEmulator(t *testing.T) {
	ctx := context.Background()
	s := orderstest.NewStore(t, dynamodb.NewFromConfig(emulatortest.Config(t)))
	h := validateorder.New(s, slog.New(slog.DiscardHandler))
	tests := []struct {
		name   string
		order  orders.Order
		want   orders.Status
		total  int64
		reason string
	}{
		{"valid", orders.Order{RestaurantID: "r-sushi", Items: items(orders.Item{MenuItemID: "miso-soup", Quantity: 2})}, orders.Validated, 600, ""},
		{"bad item", orders.Order{RestaurantID: "r-sushi", Items: items(orders.Item{MenuItemID: "margherita", Quantity: 1})}, orders.Rejected, 0, "not on the menu"},
		{"unknown restaurant", orders.Order{RestaurantID: "r-gone", Items: items(orders.Item{MenuItemID: "x", Quantity: 1})}, orders.Rejected, 0, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.order.ID = orders.NewID("ord_")
			if _, err := s.Place(ctx, tt.order); err != nil {
				t.Fatal(err)
			}
			// The same event twice, as an at-least-once queue may deliver it.
			for i := 0; i < 2; i++ {
				if err := h.Handle(ctx, orderstest.Change("ev-1", tt.order.ID)); err != nil {
					t.Fatalf("delivery %d: %v", i+1, err)
				}
			}
			got, err := s.Order(ctx, tt.order.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want || got.TotalCents != tt.total || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("order %+v, want %s total %d reason %q", got, tt.want, tt.total, tt.reason)
			}
		})
	}
	// An event for an order that is gone is acknowledged, not retried.
	if err := h.Handle(ctx, orderstest.Change("ev-2", "ord_missing")); err != nil {
		t.Fatalf("missing order: %v", err)
	}
}
