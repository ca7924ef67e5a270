package orders_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func newStore(t *testing.T) *orders.Store {
	t.Helper()
	return orderstest.NewStore(t, dynamodb.NewFromConfig(emulatortest.Config(t)))
}

func place(t *testing.T, s *orders.Store) orders.Order {
	t.Helper()
	o, err := s.Place(context.Background(), orders.Order{
		ID: orders.NewID("ord_"), RestaurantID: "r-pizza",
		Items: []orders.Item{{MenuItemID: "margherita", Quantity: 2}}, CorrelationID: "corr-1",
	})
	if err != nil {
		t.Fatalf("place: %v", err)
	}
	return o
}

func TestPlaceAndRead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := place(t, s)
	got, err := s.Order(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != orders.Placed || got.CorrelationID != "corr-1" || len(got.Items) != 1 || got.Payments == nil || got.UpdatedAt == "" {
		t.Fatalf("read back %+v", got)
	}
	// The same id again never overwrites.
	if _, err := s.Place(ctx, orders.Order{ID: o.ID, RestaurantID: "r-sushi"}); err == nil {
		t.Fatal("second Place with the same id succeeded")
	}
	if _, err := s.Order(ctx, "ord_missing"); !errors.Is(err, orders.ErrNotFound) {
		t.Fatalf("missing order: err = %v, want ErrNotFound", err)
	}
}

func TestHappyPathTransitions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := place(t, s)
	steps := []struct {
		name string
		do   func() (orders.Order, error)
		want orders.Status
	}{
		{"validate", func() (orders.Order, error) { return s.Validate(ctx, o.ID, 1800) }, orders.Validated},
		{"intent", func() (orders.Order, error) {
			return s.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: "pi_1", AmountCents: 1800})
		}, orders.Validated},
		{"pay", func() (orders.Order, error) {
			return s.RecordPayment(ctx, o.ID, "pi_1", orders.Payment{ID: "ch_1", AmountCents: 1800})
		}, orders.Paid},
		{"approve", func() (orders.Order, error) { return s.Approve(ctx, o.ID) }, orders.Approved},
		{"driver", func() (orders.Order, error) { return s.AssignDriver(ctx, o.ID, "driver-3") }, orders.DriverAssigned},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.Status != st.want {
			t.Fatalf("%s: status %s, want %s", st.name, got.Status, st.want)
		}
		// Every step is conditional on the status before it: doing it again loses.
		_, err = st.do()
		var ce *orders.ConflictError
		if st.name != "intent" && (!errors.As(err, &ce) || ce.Current.Status == "") {
			t.Fatalf("%s again: err = %v, want a ConflictError with the current order", st.name, err)
		}
	}
	final, _ := s.Order(ctx, o.ID)
	if final.TotalCents != 1800 || final.DriverID != "driver-3" || len(final.Payments) != 1 || final.Payments[0].IntentID != "pi_1" || final.CorrelationID != "corr-1" {
		t.Fatalf("final order %+v", final)
	}
}

func TestConflicts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := place(t, s)
	if _, err := s.Approve(ctx, o.ID); !errors.Is(err, orders.ErrConflict) {
		t.Fatalf("approve PLACED: err = %v, want ErrConflict", err)
	}
	if _, err := s.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: "pi_x", AmountCents: 1}); !errors.Is(err, orders.ErrConflict) {
		t.Fatalf("intent on PLACED: err = %v, want ErrConflict", err)
	}
	if _, err := s.Validate(ctx, "ord_missing", 1); !errors.Is(err, orders.ErrNotFound) {
		t.Fatalf("validate missing: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Validate(ctx, o.ID, 1800); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: "pi_1", AmountCents: 1800}); err != nil {
		t.Fatal(err)
	}
	// An intent is never replaced.
	_, err := s.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: "pi_2", AmountCents: 5})
	var ce *orders.ConflictError
	if !errors.As(err, &ce) || ce.Current.PaymentIntent == nil || ce.Current.PaymentIntent.ID != "pi_1" {
		t.Fatalf("second intent: err = %v, want a conflict showing pi_1", err)
	}
	// A payment for another intent is refused.
	if _, err := s.RecordPayment(ctx, o.ID, "pi_2", orders.Payment{ID: "ch_2", AmountCents: 5}); !errors.Is(err, orders.ErrConflict) {
		t.Fatalf("payment for a stale intent: err = %v, want ErrConflict", err)
	}
	if _, err := s.FailPayment(ctx, o.ID, "pi_2", "nope"); !errors.Is(err, orders.ErrConflict) {
		t.Fatalf("fail payment for a stale intent: err = %v, want ErrConflict", err)
	}
	got, err := s.FailPayment(ctx, o.ID, "pi_1", "declined")
	if err != nil || got.Status != orders.PaymentFailed || got.Reason != "declined" {
		t.Fatalf("fail payment: %+v, %v", got, err)
	}
}

// Racing recorders of the same charge: exactly one payment is recorded.
func TestRecordPaymentRace(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := place(t, s)
	if _, err := s.Validate(ctx, o.ID, 900); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: "pi_r", AmountCents: 900}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecordPayment(ctx, o.ID, "pi_r", orders.Payment{ID: "ch_r", AmountCents: 900})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, orders.ErrConflict):
				conflicts++
			default:
				t.Errorf("record payment: %v", err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.Order(ctx, o.ID)
	if wins != 1 || conflicts != 7 || len(got.Payments) != 1 {
		t.Fatalf("wins %d conflicts %d payments %d, want 1, 7, 1", wins, conflicts, len(got.Payments))
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t) // seeds once
	n, err := orders.Seed(ctx, s, orders.SeedRestaurants)
	if err != nil || n != 0 {
		t.Fatalf("second seed wrote %d, err %v; want 0", n, err)
	}
	rs, err := s.Restaurants(ctx)
	if err != nil || len(rs) != len(orders.SeedRestaurants) || rs[0].ID != "r-pizza" || len(rs[0].Menu) != 3 {
		t.Fatalf("restaurants %+v, %v", rs, err)
	}
	if _, err := s.Restaurant(ctx, "r-none"); !errors.Is(err, orders.ErrNotFound) {
		t.Fatalf("missing restaurant: %v", err)
	}
}

// Every write records who caused it: the subject of its context.
func TestWritesRecordCausedBy(t *testing.T) {
	s := newStore(t)
	alice := correlation.WithSubject(context.Background(), "alice")
	o, err := s.Place(alice, orders.Order{ID: orders.NewID("ord_"), RestaurantID: "r-pizza", Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Order(context.Background(), o.ID); got.CausedBy != "alice" {
		t.Fatalf("placed: causedBy %q, want alice", got.CausedBy)
	}
	if _, err := s.Validate(correlation.WithSubject(context.Background(), "validate-order's chain"), o.ID, 900); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Order(context.Background(), o.ID); got.CausedBy != "validate-order's chain" {
		t.Fatalf("validated: causedBy %q", got.CausedBy)
	}
	// A write with no subject in context keeps the last one.
	if _, err := s.RecordIntent(context.Background(), o.ID, orders.PaymentIntent{ID: "pi_1", AmountCents: 900}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Order(context.Background(), o.ID); got.CausedBy != "validate-order's chain" {
		t.Fatalf("after a write without a subject: causedBy %q", got.CausedBy)
	}
}

// Listings read the indexes newest first, a page at a time, each page
// ending with a cursor only when more orders follow; a customer's
// listing holds only their orders and a restaurant's only its own.
func TestListings(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// A clock whose times have fractions with trailing zeros (…05.1Z
	// against …05.12Z): their text must still sort as the times do.
	base := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	steps := []time.Duration{0, 100 * time.Millisecond, 120 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second, 3 * time.Second}
	var clock sync.Mutex
	i := 0
	s.Now = func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return base.Add(steps[min(i, len(steps)-1)])
	}
	placed := map[string][]string{} // customer or restaurant -> ids, oldest first
	for n, p := range []struct{ customer, restaurant string }{
		{"alice", "r-pizza"}, {"bob", "r-pizza"}, {"alice", "r-sushi"}, {"alice", "r-pizza"}, {"bob", "r-sushi"}, {"alice", "r-pizza"}, {"alice", "r-sushi"},
	} {
		clock.Lock()
		i = n
		clock.Unlock()
		o, err := s.Place(ctx, orders.Order{ID: orders.NewID("ord_"), CustomerID: p.customer, RestaurantID: p.restaurant,
			Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		placed[p.customer] = append(placed[p.customer], o.ID)
		placed[p.restaurant] = append(placed[p.restaurant], o.ID)
	}
	// An order placed without a customer (by a step, a script) is in no
	// customer's listing, and still in its restaurant's.
	anon, err := s.Place(ctx, orders.Order{ID: orders.NewID("ord_"), RestaurantID: "r-pizza", Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	placed["r-pizza"] = append(placed["r-pizza"], anon.ID)

	for _, tt := range []struct {
		name string
		list func(limit int, after *orders.Cursor) (orders.Page, error)
		want []string
	}{
		{"alice", func(l int, a *orders.Cursor) (orders.Page, error) { return s.CustomerOrders(ctx, "alice", l, a) }, placed["alice"]},
		{"bob", func(l int, a *orders.Cursor) (orders.Page, error) { return s.CustomerOrders(ctx, "bob", l, a) }, placed["bob"]},
		{"r-pizza", func(l int, a *orders.Cursor) (orders.Page, error) { return s.RestaurantOrders(ctx, "r-pizza", l, a) }, placed["r-pizza"]},
		{"r-sushi", func(l int, a *orders.Cursor) (orders.Page, error) { return s.RestaurantOrders(ctx, "r-sushi", l, a) }, placed["r-sushi"]},
		{"nobody", func(l int, a *orders.Cursor) (orders.Page, error) { return s.CustomerOrders(ctx, "carol", l, a) }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(tt.want)
			slices.Reverse(want)
			// Whole, in pages of 2, and in pages the size of the listing.
			for _, size := range []int{orders.MaxPage, 2, max(1, len(want))} {
				var got []string
				var after *orders.Cursor
				pages := 0
				for {
					p, err := tt.list(size, after)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					for _, o := range p.Orders {
						got = append(got, o.ID)
					}
					if p.Next == nil {
						break
					}
					if len(p.Orders) != size {
						t.Fatalf("page size %d: a page of %d orders has a cursor", size, len(p.Orders))
					}
					after = p.Next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("page size %d: listed %v, want %v", size, got, want)
				}
				if wantPages := max(1, (len(want)+size-1)/size); pages != wantPages {
					t.Fatalf("page size %d: %d pages for %d orders, want %d", size, pages, len(want), wantPages)
				}
			}
		})
	}
	for _, bad := range []int{0, -1, orders.MaxPage + 1} {
		if _, err := s.CustomerOrders(ctx, "alice", bad, nil); err == nil {
			t.Errorf("limit %d: no error", bad)
		}
	}
}
