package assigndriver_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/functions/assigndriver"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestPickDriver(t *testing.T) {
	pool := []string{"a", "b", "c"}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		id := orders.NewID("ord_")
		d := assigndriver.PickDriver(id, pool)
		if again := assigndriver.PickDriver(id, pool); again != d {
			t.Fatalf("PickDriver(%s) = %s then %s", id, d, again)
		}
		seen[d] = true
	}
	if len(seen) != len(pool) {
		t.Fatalf("200 orders used drivers %v, want all of %v", seen, pool)
	}
	if got := assigndriver.PickDriver("anything", []string{"solo"}); got != "solo" {
		t.Fatalf("one-driver pool: %s", got)
	}
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	s := orderstest.NewStore(t, dynamodb.NewFromConfig(emulatortest.Config(t)))
	h := assigndriver.New(s, nil, slog.New(slog.DiscardHandler))

	// Bring an order to APPROVED through the store's own transitions.
	o, err := s.Place(ctx, orders.Order{ID: orders.NewID("ord_"), RestaurantID: "r-pizza", Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	// Not yet approved: the handler leaves it alone.
	if err := h.Handle(ctx, orderstest.Change("ev-0", o.ID)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Order(ctx, o.ID); got.Status != orders.Placed || got.DriverID != "" {
		t.Fatalf("PLACED order touched: %+v", got)
	}
	steps := []func() (orders.Order, error){
		func() (orders.Order, error) { return s.Validate(ctx, o.ID, 900) },
		func() (orders.Order, error) {
			return s.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: "pi_1", AmountCents: 900})
		},
		func() (orders.Order, error) {
			return s.RecordPayment(ctx, o.ID, "pi_1", orders.Payment{ID: "ch_1", AmountCents: 900})
		},
		func() (orders.Order, error) { return s.Approve(ctx, o.ID) },
	}
	for _, st := range steps {
		if _, err := st(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := h.Handle(ctx, orderstest.Change("ev-1", o.ID)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	got, _ := s.Order(ctx, o.ID)
	if got.Status != orders.DriverAssigned || got.DriverID != assigndriver.PickDriver(o.ID, assigndriver.DefaultDrivers) {
		t.Fatalf("order %+v", got)
	}
}
