package restaurantapproval_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/functions/restaurantapproval"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestHandle(t *testing.T) {
	ctx := context.Background()
	s := orderstest.NewStore(t, dynamodb.NewFromConfig(emulatortest.Config(t)))
	h := restaurantapproval.New(s, slog.New(slog.DiscardHandler))
	place := func() orders.Order {
		o, err := s.Place(ctx, orders.Order{ID: orders.NewID("ord_"), RestaurantID: "r-pizza", Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	paid := place()
	for _, err := range []error{
		func() error { _, err := s.Validate(ctx, paid.ID, 900); return err }(),
		func() error {
			_, err := s.RecordIntent(ctx, paid.ID, orders.PaymentIntent{ID: "pi_1", AmountCents: 900})
			return err
		}(),
		func() error {
			_, err := s.RecordPayment(ctx, paid.ID, "pi_1", orders.Payment{ID: "ch_1", AmountCents: 900})
			return err
		}(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	placed := place()
	tests := []struct {
		name string
		id   string
		want orders.Status
	}{
		{"paid is approved", paid.ID, orders.Approved},
		{"redelivery changes nothing", paid.ID, orders.Approved},
		{"placed is left alone", placed.ID, orders.Placed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.Handle(ctx, orderstest.Change("ev", tt.id)); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Order(ctx, tt.id); got.Status != tt.want {
				t.Fatalf("status %s, want %s", got.Status, tt.want)
			}
		})
	}
	if err := h.Handle(ctx, orderstest.Change("ev", "ord_missing")); err != nil {
		t.Fatalf("missing order: %v", err)
	}
}
