package tests

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/assigndriver"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/topology"
)

// errDispatch is the bug the fault switch plays: assign-driver fails
// every order permanently, so each lands in its dead-letter queue.
var errDispatch = errs.New(errs.FailedPrecondition, "no driver can be assigned: the dispatch zone of r-pizza is not configured")

// faultyApp is the food-delivery app under its own name (its own tables
// and queues on the test binary's emulator) with a fault switch on
// assign-driver: while fault is on, the function fails permanently, as
// a bug would; switching it off is deploying the fix.
//
// With log, the app also records in it what the event log holds in
// make dev: every change of an order (a route of every change to a
// function that logs it) and every delivery to a function, with its
// attempt, outcome, duration and error.
func faultyApp(name string, fault *atomic.Bool, log eventlog.Log) app.App {
	a := fooddelivery.App
	a.Name = name
	a.Functions = slices.Clone(a.Functions)
	for i := range a.Functions {
		f := &a.Functions[i]
		build, fn := f.Handler, f.Name
		f.Handler = func(ctx context.Context, env *app.Env) (consumer.EventHandler, error) {
			h, err := build(ctx, env)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, e change.Event) error {
				start := time.Now()
				var err error
				if fn == assigndriver.Name && fault.Load() {
					err = errs.Permanent(errDispatch)
				} else {
					err = h(ctx, e)
				}
				if log != nil {
					recordDelivery(ctx, log, e, start, err)
				}
				return err
			}, nil
		}
	}
	if log != nil {
		a.Functions = append(a.Functions, app.Function{
			Function: topology.Function{Name: "logchanges", Tables: []string{fooddelivery.Orders}, Timeout: 10 * time.Second},
			Handler: func(context.Context, *app.Env) (consumer.EventHandler, error) {
				return func(ctx context.Context, e change.Event) error { return log.WriteChanges(ctx, e) }, nil
			},
		})
		a.Routes = append(slices.Clone(a.Routes), topology.Route{
			Name: "log-changes", Function: "logchanges",
			Match: topology.Match{Table: fooddelivery.Orders},
		})
	}
	return a
}

// recordDelivery logs one attempt as the consumer reports it.
func recordDelivery(ctx context.Context, log eventlog.Log, e change.Event, start time.Time, err error) {
	m, _ := consumer.MessageFrom(ctx)
	d := eventlog.Delivery{
		EventID: e.ID, Route: m.Route, Function: m.Function, Attempt: max(m.Attempt, 1), Outcome: eventlog.OK,
		DurationMs: float64(time.Since(start).Microseconds()) / 1000, At: start, MessageID: m.MessageID, CorrelationID: e.CorrelationID,
	}
	switch {
	case err == nil:
	case errs.IsPermanent(err):
		d.Outcome, d.Error, d.Code = eventlog.DeadLettered, err.Error(), errs.CodeOf(err)
	default:
		d.Outcome, d.Error, d.Code = eventlog.Retry, err.Error(), errs.CodeOf(err)
	}
	// The record is best effort, as the consumer's is: a failure to log
	// never fails the delivery.
	_ = log.WriteDeliveries(context.WithoutCancel(ctx), d)
}

// stackClient is a GraphQL client of a devapptest stack, as alice.
func stackClient(t *testing.T, s *devapptest.Stack) *devStack {
	t.Helper()
	tok, err := s.Issuer.Mint(devissuer.Options{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return &devStack{url: s.GraphQLURL(), token: tok}
}

// placeAndPay places an order of two margheritas and a tiramisu and pays
// it once validated.
func placeAndPay(ctx context.Context, s *devStack) (order, error) {
	o, err := s.placeOrder(ctx, "r-pizza", item("margherita", 2), item("tiramisu", 1))
	if err != nil {
		return o, err
	}
	if o, err = s.waitFor(ctx, o.ID, "VALIDATED"); err != nil {
		return o, err
	}
	if _, err := s.payOrder(ctx, o.ID, o.TotalCents); err != nil {
		return o, err
	}
	return o, nil
}
