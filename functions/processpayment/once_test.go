package processpayment_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threefactor/framework/functions/processpayment"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/idempotency"
	"github.com/threefactor/framework/lib/topology"
)

// counting counts the charge requests that reach the provider.
type counting struct {
	p     processpayment.Provider
	calls atomic.Int32
}

func (c *counting) Charge(ctx context.Context, req processpayment.ChargeRequest) (processpayment.Charge, error) {
	c.calls.Add(1)
	return c.p.Charge(ctx, req)
}

func (f *fixture) onceStore(t *testing.T, opts ...idempotency.Option) *idempotency.Store {
	t.Helper()
	table := orderstest.CreateTables(t, topology.IdempotencyTable)[topology.IdempotencyTable]
	return idempotency.New(f.db, table, append(opts, idempotency.WithLogger(slog.New(slog.DiscardHandler)))...)
}

func (f *fixture) handlerWithOnce(t *testing.T, p processpayment.Provider, once processpayment.Once) *processpayment.Handler {
	t.Helper()
	h, err := processpayment.New(processpayment.Config{Store: f.store, Provider: p, Once: once, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Once the charge work completed, a redelivery finds the record (or the
// PAID order) and never reaches the provider again.
func TestRedeliveryAfterCompletionDoesNotCallProvider(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p := &counting{p: f.provider}
	h := f.handlerWithOnce(t, p, f.onceStore(t))
	o := f.validated(t, 1800)
	for i := 0; i < 3; i++ {
		if err := h.Handle(ctx, orderstest.Change("ev-1", o.ID)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	f.exactlyOnePayment(t, o.ID)
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("provider called %d times, want 1", n)
	}
}

// stallAfterCapture captures through the real provider, tells the test,
// and then hangs like a process that died before recording the payment,
// until released.
type stallAfterCapture struct {
	p        processpayment.Provider
	captured chan struct{}
	release  chan struct{}
}

func (s stallAfterCapture) Charge(ctx context.Context, req processpayment.ChargeRequest) (processpayment.Charge, error) {
	if _, err := s.p.Charge(ctx, req); err != nil {
		return processpayment.Charge{}, err
	}
	close(s.captured)
	<-s.release
	return processpayment.Charge{}, errors.New("this delivery died after capturing")
}

// A delivery dies between capture and record while holding the
// idempotency lease: an overlapping redelivery is told to retry, and the
// one after the lease expired charges again with the same key, gets the
// same charge back, and records it. One capture, one payment.
func TestDeathBetweenCaptureAndRecordWithLease(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	once := f.onceStore(t, idempotency.WithLease(time.Second))
	o := f.validated(t, 1800)

	stall := stallAfterCapture{p: f.provider, captured: make(chan struct{}), release: make(chan struct{})}
	dead := make(chan error, 1)
	go func() { dead <- f.handlerWithOnce(t, stall, once).Handle(ctx, orderstest.Change("ev-1", o.ID)) }()
	<-stall.captured

	healthy := f.handlerWithOnce(t, f.provider, once)
	err := healthy.Handle(ctx, orderstest.Change("ev-1", o.ID))
	if !errors.Is(err, idempotency.ErrInProgress) || errs.IsPermanent(err) {
		t.Fatalf("overlapping delivery: err = %v, want retryable ErrInProgress", err)
	}
	// The lease runs out; SQS redelivers.
	var last error
	for i := 0; i < 50; i++ {
		time.Sleep(200 * time.Millisecond)
		if last = healthy.Handle(ctx, orderstest.Change("ev-1", o.ID)); last == nil {
			break
		}
	}
	if last != nil {
		t.Fatalf("redelivery after the lease: %v", last)
	}
	f.exactlyOnePayment(t, o.ID)

	close(stall.release)
	if err := <-dead; err == nil {
		t.Fatal("the stalled delivery reported success")
	}
	f.exactlyOnePayment(t, o.ID)
}
