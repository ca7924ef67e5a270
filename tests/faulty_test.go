package tests

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/assigndriver"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

// errDispatch is the bug the fault switch plays: assign-driver fails
// every order permanently, so each lands in its dead-letter queue.
var errDispatch = errs.New(errs.FailedPrecondition, "no driver can be assigned: the dispatch zone of r-pizza is not configured")

// faultyApp is the food-delivery app under its own name (its own tables
// and queues on the test binary's emulator) with a fault switch on
// assign-driver: while fault is on, the function fails permanently, as
// a bug would; switching it off is deploying the fix. Its event log is
// the one devapptest keeps, fed and written as make dev's is.
func faultyApp(name string, fault *atomic.Bool) app.App {
	a := fooddelivery.App
	a.Name = name
	a.Functions = slices.Clone(a.Functions)
	for i := range a.Functions {
		f := &a.Functions[i]
		if f.Name != assigndriver.Name {
			continue
		}
		build := f.Handler
		f.Handler = func(ctx context.Context, env *app.Env) (consumer.EventHandler, error) {
			h, err := build(ctx, env)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, e change.Event) error {
				if fault.Load() {
					return errs.Permanent(errDispatch)
				}
				return h(ctx, e)
			}, nil
		}
	}
	return a
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
