package processpayment_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/functions/processpayment"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestParseFailureRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"", 0, false}, {"0", 0, false}, {"0.5", 0.5, false}, {" 1 ", 1, false}, {"0.05", 0.05, false},
		{"1.5", 0, true}, {"-0.1", 0, true}, {"half", 0, true}, {"NaN", 0, true}, {"50%", 0, true},
	}
	for _, tt := range tests {
		got, err := processpayment.ParseFailureRate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFailureRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), processpayment.EnvFailureRate) {
			t.Errorf("error %q does not name %s", err, processpayment.EnvFailureRate)
		}
	}
}

func TestDecide(t *testing.T) {
	intent := func(amount int64) *orders.PaymentIntent { return &orders.PaymentIntent{ID: "pi", AmountCents: amount} }
	tests := []struct {
		name   string
		o      orders.Order
		want   processpayment.Action
		reason string
	}{
		{"charge", orders.Order{Status: orders.Validated, TotalCents: 900, PaymentIntent: intent(900)}, processpayment.ChargeIntent, ""},
		{"wrong amount", orders.Order{Status: orders.Validated, TotalCents: 900, PaymentIntent: intent(100)}, processpayment.Decline, "amount 100 cents does not match the order total of 900 cents"},
		{"overpay", orders.Order{Status: orders.Validated, TotalCents: 900, PaymentIntent: intent(901)}, processpayment.Decline, "901"},
		{"no intent", orders.Order{Status: orders.Validated, TotalCents: 900}, processpayment.Skip, "no payment intent"},
		{"already paid", orders.Order{Status: orders.Paid, TotalCents: 900, PaymentIntent: intent(900)}, processpayment.Skip, "PAID"},
		{"already failed", orders.Order{Status: orders.PaymentFailed, TotalCents: 900, PaymentIntent: intent(1)}, processpayment.Skip, "PAYMENT_FAILED"},
		{"placed", orders.Order{Status: orders.Placed}, processpayment.Skip, "PLACED"},
	}
	for _, tt := range tests {
		act, why := processpayment.Decide(tt.o)
		if act != tt.want || !strings.Contains(why, tt.reason) {
			t.Errorf("%s: Decide = %v %q, want %v containing %q", tt.name, act, why, tt.want, tt.reason)
		}
	}
}

type fixture struct {
	db       *dynamodb.Client
	store    *orders.Store
	provider *processpayment.SimulatedProvider
	ledger   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dynamodb.NewFromConfig(emulatortest.Config(t))
	ledger := orderstest.CreateTables(t, processpayment.ChargesTable)[processpayment.ChargesTable]
	p, err := processpayment.NewSimulatedProvider(db, ledger, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, store: orderstest.NewStore(t, db), provider: p, ledger: ledger}
}

// validated places an order of two margheritas (1800 cents), validates it
// and records an intent of amount.
func (f *fixture) validated(t *testing.T, amount int64) orders.Order {
	t.Helper()
	ctx := context.Background()
	o, err := f.store.Place(ctx, orders.Order{ID: orders.NewID("ord_"), RestaurantID: "r-pizza", Items: []orders.Item{{MenuItemID: "margherita", Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Validate(ctx, o.ID, 1800); err != nil {
		t.Fatal(err)
	}
	o, err = f.store.RecordIntent(ctx, o.ID, orders.PaymentIntent{ID: orders.NewID("pi_"), AmountCents: amount})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// charges lists the provider ledger's captured charges for an order.
func (f *fixture) charges(t *testing.T, orderID string) []processpayment.Charge {
	t.Helper()
	out, err := f.db.Scan(context.Background(), &dynamodb.ScanInput{
		TableName:                 aws.String(f.ledger),
		FilterExpression:          aws.String("orderId = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: orderID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var cs []processpayment.Charge
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func (f *fixture) handler(t *testing.T, p processpayment.Provider) *processpayment.Handler {
	t.Helper()
	h, err := processpayment.New(processpayment.Config{Store: f.store, Provider: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// exactlyOnePayment checks the order is PAID with one payment, the one
// charge the provider's ledger holds for it.
func (f *fixture) exactlyOnePayment(t *testing.T, id string) {
	t.Helper()
	o, err := f.store.Order(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.charges(t, id)
	if o.Status != orders.Paid || len(o.Payments) != 1 || len(cs) != 1 || o.Payments[0].ID != cs[0].ID || o.Payments[0].AmountCents != 1800 {
		t.Fatalf("order %s %s payments %+v, ledger %+v: want PAID with the one captured charge", id, o.Status, o.Payments, cs)
	}
}

func TestProviderCapturesOncePerKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	req := processpayment.ChargeRequest{IdempotencyKey: "pi_a", OrderID: "ord_a", AmountCents: 500}
	c1, err := f.provider.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := f.provider.Charge(ctx, req)
	if err != nil || c2 != c1 {
		t.Fatalf("repeat: %+v, %v; want the first charge %+v", c2, err, c1)
	}
	req.AmountCents = 600
	if _, err := f.provider.Charge(ctx, req); !errors.Is(err, processpayment.ErrKeyReused) {
		t.Fatalf("other amount, same key: err = %v, want ErrKeyReused", err)
	}
	if n := len(f.charges(t, "ord_a")); n != 1 {
		t.Fatalf("ledger holds %d charges, want 1", n)
	}
}

func TestProviderFailures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, _ := processpayment.NewSimulatedProvider(f.db, f.ledger, 0.5)
	tests := []struct {
		name     string
		roll     float64
		err      bool
		captured bool
	}{
		{"fails before capture", 0.1, true, false},
		{"captures, answer lost", 0.3, true, true},
		{"succeeds", 0.7, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Rand = func() float64 { return tt.roll }
			key := orders.NewID("pi_")
			_, err := p.Charge(ctx, processpayment.ChargeRequest{IdempotencyKey: key, OrderID: "o", AmountCents: 1})
			if (err != nil) != tt.err || (err != nil && !errors.Is(err, processpayment.ErrUnavailable)) {
				t.Fatalf("err = %v, want failure %v (ErrUnavailable)", err, tt.err)
			}
			_, captured, cerr := p.Captured(ctx, key)
			if cerr != nil || captured != tt.captured {
				t.Fatalf("captured = %v, %v; want %v", captured, cerr, tt.captured)
			}
		})
	}
	if _, err := processpayment.NewSimulatedProvider(f.db, f.ledger, 1.5); err == nil {
		t.Fatal("failure rate 1.5 accepted")
	}
}

func TestHandlePaysOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	h := f.handler(t, f.provider)
	o := f.validated(t, 1800)
	for i := 0; i < 3; i++ { // the same event, redelivered
		if err := h.Handle(ctx, orderstest.Change("ev-1", o.ID)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	f.exactlyOnePayment(t, o.ID)
}

func TestHandleDeclinesWrongAmount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	h := f.handler(t, f.provider)
	o := f.validated(t, 1799)
	if err := h.Handle(ctx, orderstest.Change("ev-1", o.ID)); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.Order(ctx, o.ID)
	if got.Status != orders.PaymentFailed || !strings.Contains(got.Reason, "does not match") || len(got.Payments) != 0 {
		t.Fatalf("order %+v, want PAYMENT_FAILED with a reason and no payment", got)
	}
	if cs := f.charges(t, o.ID); len(cs) != 0 {
		t.Fatalf("declined order was charged: %+v", cs)
	}
}

func TestHandleTransientFailureIsRetryable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	down, _ := processpayment.NewSimulatedProvider(f.db, f.ledger, 1)
	o := f.validated(t, 1800)
	for _, roll := range []float64{0.2, 0.8} { // before capture, then answer lost after capture
		down.Rand = func() float64 { return roll }
		err := f.handler(t, down).Handle(ctx, orderstest.Change("ev-1", o.ID))
		if err == nil || errs.IsPermanent(err) || errs.CodeOf(err) != errs.Unavailable {
			t.Fatalf("roll %v: err = %v, want a retryable UNAVAILABLE error", roll, err)
		}
	}
	if got, _ := f.store.Order(ctx, o.ID); got.Status != orders.Validated || len(got.Payments) != 0 {
		t.Fatalf("order after failures: %+v", got)
	}
	// The redelivery after the provider recovers records the charge the
	// lost answer had captured, and captures nothing new.
	captured, _, _ := f.provider.Captured(ctx, o.PaymentIntent.ID)
	if err := f.handler(t, f.provider).Handle(ctx, orderstest.Change("ev-1", o.ID)); err != nil {
		t.Fatal(err)
	}
	f.exactlyOnePayment(t, o.ID)
	if got, _ := f.store.Order(ctx, o.ID); got.Payments[0].ID != captured.ID {
		t.Fatalf("recorded charge %s, want the one captured earlier %s", got.Payments[0].ID, captured.ID)
	}
}

// crashAfterCapture captures through the real provider, then fails as a
// process that died before recording the payment would.
type crashAfterCapture struct{ p processpayment.Provider }

func (c crashAfterCapture) Charge(ctx context.Context, req processpayment.ChargeRequest) (processpayment.Charge, error) {
	if _, err := c.p.Charge(ctx, req); err != nil {
		return processpayment.Charge{}, err
	}
	return processpayment.Charge{}, errors.New("process died after capture")
}

func TestCrashBetweenCaptureAndRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	o := f.validated(t, 1800)
	if err := f.handler(t, crashAfterCapture{f.provider}).Handle(ctx, orderstest.Change("ev-1", o.ID)); err == nil {
		t.Fatal("crash not reported")
	}
	if cs := f.charges(t, o.ID); len(cs) != 1 {
		t.Fatalf("ledger after crash: %+v, want the one capture", cs)
	}
	if err := f.handler(t, f.provider).Handle(ctx, orderstest.Change("ev-1", o.ID)); err != nil {
		t.Fatal(err)
	}
	f.exactlyOnePayment(t, o.ID)
}

// Concurrent deliveries against a flaky provider, each retried until it
// succeeds, as SQS redelivery would: one capture, one payment.
func TestConcurrentDeliveriesWithFlakyProvider(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	flaky, _ := processpayment.NewSimulatedProvider(f.db, f.ledger, 0.5)
	h := f.handler(t, flaky)
	o := f.validated(t, 1800)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 100; attempt++ {
				err := h.Handle(ctx, orderstest.Change("ev-1", o.ID))
				if err == nil {
					return
				}
				if errs.IsPermanent(err) {
					t.Errorf("permanent error: %v", err)
					return
				}
			}
			t.Error("no success in 100 attempts at failure rate 0.5")
		}()
	}
	wg.Wait()
	f.exactlyOnePayment(t, o.ID)
}

func TestBuildFromEnv(t *testing.T) {
	env := map[string]string{"TABLE_ORDERS": "o", "TABLE_CHARGES": "c", "TABLE_IDEMPOTENCY": "i"}
	e := app.NewEnv(aws.Config{Region: "us-east-1"}, app.MapEnv(env), slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if _, err := processpayment.Build(ctx, e); err != nil {
		t.Fatalf("valid environment: %v", err)
	}
	env[processpayment.EnvFailureRate] = "0.3"
	if _, err := processpayment.Build(ctx, e); err != nil {
		t.Fatalf("rate 0.3: %v", err)
	}
	env[processpayment.EnvFailureRate] = "2"
	if _, err := processpayment.Build(ctx, e); err == nil || !strings.Contains(err.Error(), "PAYMENT_FAILURE_RATE") {
		t.Fatalf("rate 2: err = %v, want a startup error naming PAYMENT_FAILURE_RATE", err)
	}
	delete(env, processpayment.EnvFailureRate)
	delete(env, "TABLE_CHARGES")
	if _, err := processpayment.Build(ctx, e); err == nil || !strings.Contains(err.Error(), "TABLE_CHARGES") {
		t.Fatalf("no ledger table: err = %v", err)
	}
}
