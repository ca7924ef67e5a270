package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/identity"
)

// maxIDLen bounds the ids clients send, long before DynamoDB's key limit.
const maxIDLen = 128

// Resolver is the root resolver.
type Resolver struct {
	store *orders.Store
	log   *slog.Logger
}

func newResolver(d Deps) *Resolver {
	log := d.Logger
	if log == nil {
		log = slog.New(correlation.WrapHandler(slog.DiscardHandler))
	}
	return &Resolver{store: d.Store, log: log}
}

// Restaurants lists every restaurant, for any signed-in caller.
func (r *Resolver) Restaurants(ctx context.Context) ([]*RestaurantResolver, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	rs, err := r.store.Restaurants(ctx)
	if err != nil {
		return nil, r.internal(ctx, "list restaurants", err)
	}
	out := make([]*RestaurantResolver, len(rs))
	for i := range rs {
		out[i] = &RestaurantResolver{r: rs[i]}
	}
	return out, nil
}

// Order reads an order; null when there is none, and when the caller may
// not see it: an order of someone else reads exactly as one that does not
// exist (the same read, the same answer). Restaurant staff see their
// restaurant's orders without payment details.
func (r *Resolver) Order(ctx context.Context, args struct{ ID graphql.ID }) (*OrderResolver, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := string(args.ID)
	if id == "" {
		return nil, errs.New(errs.BadUserInput, "id must not be empty")
	}
	if len(id) > maxIDLen {
		return nil, nil // no order has such an id
	}
	o, v, err := r.visibleOrder(ctx, who, id)
	if err != nil {
		return nil, err
	}
	if v == hidden {
		return nil, nil
	}
	return present(o, v), nil
}

// visibleOrder reads order id (strongly consistent) and how who may see
// it: hidden when there is no such order, the same as when it is someone
// else's. Every caller asking for an id makes this one read, whoever owns
// the order, so neither the answer nor the work done tells an order of
// someone else from a missing one.
func (r *Resolver) visibleOrder(ctx context.Context, who identity.Identity, id string) (orders.Order, view, error) {
	o, err := r.store.Order(ctx, id)
	if errors.Is(err, orders.ErrNotFound) {
		return orders.Order{}, hidden, nil
	}
	if err != nil {
		return orders.Order{}, hidden, r.internal(ctx, "read order", err)
	}
	v := viewOf(who, o)
	if v == hidden {
		return orders.Order{}, hidden, nil
	}
	return o, v, nil
}

// orderNotFound is the answer about an order that does not exist, or
// that the caller may not see: the same in both cases.
func orderNotFound(id string) error { return errs.Newf(errs.NotFound, "order %q not found", id) }

// PlaceOrderInput is the placeOrder input.
type PlaceOrderInput struct {
	RestaurantID graphql.ID
	Items        []OrderItemInput
}

// OrderItemInput is one line of PlaceOrderInput.
type OrderItemInput struct {
	MenuItemID graphql.ID
	Quantity   int32
}

// PlaceOrder checks the input's shape and that the restaurant exists,
// then writes the order as PLACED in one conditional PutItem and returns
// it. The order belongs to the caller (its customerId is their subject).
// Whether the dishes are on the menu, and the quantities, are checked by
// the validate-order step, which rejects the order with a reason.
func (r *Resolver) PlaceOrder(ctx context.Context, args struct{ Input PlaceOrderInput }) (*OrderResolver, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	rid := string(in.RestaurantID)
	switch {
	case rid == "":
		return nil, errs.New(errs.BadUserInput, "restaurantId must not be empty")
	case len(rid) > maxIDLen:
		return nil, errs.Newf(errs.BadUserInput, "restaurantId is longer than %d characters", maxIDLen)
	case len(in.Items) == 0:
		return nil, errs.New(errs.BadUserInput, "items must not be empty: an order needs at least one line")
	case len(in.Items) > orders.MaxLines:
		return nil, errs.Newf(errs.BadUserInput, "an order has at most %d lines, got %d", orders.MaxLines, len(in.Items))
	}
	items := make([]orders.Item, len(in.Items))
	for i, it := range in.Items {
		mid := string(it.MenuItemID)
		if mid == "" || len(mid) > maxIDLen {
			return nil, errs.Newf(errs.BadUserInput, "items[%d].menuItemId must be 1 to %d characters", i, maxIDLen)
		}
		items[i] = orders.Item{MenuItemID: mid, Quantity: int64(it.Quantity)}
	}
	if _, err := r.store.Restaurant(ctx, rid); errors.Is(err, orders.ErrNotFound) {
		return nil, errs.Newf(errs.NotFound, "restaurant %q not found", rid)
	} else if err != nil {
		return nil, r.internal(ctx, "read restaurant", err)
	}
	o, err := r.store.Place(ctx, orders.Order{
		ID:            orders.NewID("ord_"),
		CustomerID:    who.Subject,
		RestaurantID:  rid,
		Items:         items,
		CorrelationID: correlation.From(ctx),
	})
	if err != nil {
		return nil, r.internal(ctx, "place order", err)
	}
	r.log.InfoContext(ctx, "order placed", "orderId", o.ID, "restaurantId", rid, "lines", len(items))
	return present(o, customerView), nil
}

// PayOrderInput is the payOrder input.
type PayOrderInput struct {
	OrderID     graphql.ID
	AmountCents int32
}

// PayOrder records a payment intent on a VALIDATED order in one
// conditional update and returns at once; process-payment charges it.
// Only the customer who placed the order may pay it: an order of someone
// else is NOT_FOUND, exactly as a missing one (the same read, the same
// error); its restaurant's staff, who can see it, get FORBIDDEN.
//
// An order has one intent, never replaced: repeating payOrder with the
// same amount (a client retry) returns the order with the intent already
// recorded, whatever its status now; another amount while one is recorded
// is a FAILED_PRECONDITION error. A declined payment ends the order
// (PAYMENT_FAILED).
func (r *Resolver) PayOrder(ctx context.Context, args struct{ Input PayOrderInput }) (*OrderResolver, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := string(args.Input.OrderID)
	amount := int64(args.Input.AmountCents)
	if amount <= 0 {
		return nil, errs.Newf(errs.BadUserInput, "amountCents must be positive, got %d", amount)
	}
	if id == "" {
		return nil, errs.New(errs.BadUserInput, "orderId must not be empty")
	}
	if len(id) > maxIDLen {
		return nil, orderNotFound(id)
	}
	o, v, err := r.visibleOrder(ctx, who, id)
	switch {
	case err != nil:
		return nil, err
	case v == hidden:
		return nil, orderNotFound(id)
	case v != customerView:
		return nil, errs.Newf(errs.Forbidden, "order %q can be paid only by the customer who placed it", id)
	}
	if res, err := payDecision(o, amount); res != nil || err != nil {
		return res, err
	}
	o, err = r.store.RecordIntent(ctx, id, orders.PaymentIntent{ID: orders.NewID("pi_"), AmountCents: amount})
	var ce *orders.ConflictError
	if errors.As(err, &ce) {
		// A concurrent payOrder (or step) got there first; decide again
		// from what it left.
		if res, err := payDecision(ce.Current, amount); res != nil || err != nil {
			return res, err
		}
		return nil, r.internal(ctx, "record payment intent", err)
	}
	if err != nil {
		return nil, r.internal(ctx, "record payment intent", err)
	}
	r.log.InfoContext(ctx, "payment intent recorded", "orderId", id, "intentId", o.PaymentIntent.ID, "amountCents", amount)
	return present(o, customerView), nil
}

// payDecision answers payOrder without writing when it can: the order as
// it is when an intent for this amount exists, an error when the order
// cannot be paid. Both nil means: record a new intent.
func payDecision(o orders.Order, amount int64) (*OrderResolver, error) {
	if pi := o.PaymentIntent; pi != nil {
		if pi.AmountCents == amount {
			return present(o, customerView), nil
		}
		return nil, errs.Newf(errs.FailedPrecondition, "order %q already has a payment of %d cents", o.ID, pi.AmountCents)
	}
	if o.Status != orders.Validated {
		return nil, errs.Newf(errs.FailedPrecondition, "order %q is %s: only a VALIDATED order can be paid", o.ID, o.Status)
	}
	return nil, nil
}

// internal logs an unexpected error with its detail and returns one that
// shows the client nothing internal.
func (r *Resolver) internal(ctx context.Context, op string, err error) error {
	r.log.ErrorContext(ctx, op+" failed", "error", err.Error())
	return errs.Wrap(errs.InternalServerError, "internal error", fmt.Errorf("%s: %w", op, err))
}
