// Package validateorder is the validate-order step: a PLACED order is
// checked against its restaurant's menu and becomes VALIDATED, with its
// total, or REJECTED, with the reason.
//
// Idempotent by construction: the decision depends only on the order and
// the menu, and the write is conditional on status = PLACED, so a
// redelivered event finds the order already moved and does nothing.
package validateorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
)

// Decision is the outcome of validating an order.
type Decision struct {
	// Status is VALIDATED or REJECTED.
	Status     orders.Status
	TotalCents int64
	// Reason says why an order is rejected.
	Reason string
}

// Decide validates o against its restaurant r (nil when the restaurant no
// longer exists): every line must name a dish on the menu, with a quantity
// from 1 to orders.MaxQuantity, and there must be 1 to orders.MaxLines
// lines. The first problem found is the reason.
func Decide(o orders.Order, r *orders.Restaurant) Decision {
	reject := func(format string, args ...any) Decision {
		return Decision{Status: orders.Rejected, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case r == nil:
		return reject("restaurant %q does not exist", o.RestaurantID)
	case len(o.Items) == 0:
		return reject("the order has no items")
	case len(o.Items) > orders.MaxLines:
		return reject("the order has %d lines; at most %d are allowed", len(o.Items), orders.MaxLines)
	}
	var total int64
	for i, it := range o.Items {
		m, ok := r.MenuItem(it.MenuItemID)
		if !ok {
			return reject("item %d: %q is not on the menu of %s", i+1, it.MenuItemID, r.Name)
		}
		if it.Quantity < 1 || it.Quantity > orders.MaxQuantity {
			return reject("item %d (%s): quantity %d is outside 1..%d", i+1, m.Name, it.Quantity, orders.MaxQuantity)
		}
		total += m.PriceCents * it.Quantity
	}
	return Decision{Status: orders.Validated, TotalCents: total}
}

// Name is the function's name in the app declaration.
const Name = "validateorder"

// Build builds the handler from its environment: the orders and
// restaurants tables.
func Build(_ context.Context, env *app.Env) (consumer.Handler[orders.Order], error) {
	store, err := orders.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	if _, err := env.Table(orders.RestaurantsTable); err != nil {
		return nil, err
	}
	return New(store, env.Logger).Handle, nil
}

// Handler handles the validate-order route.
type Handler struct {
	store *orders.Store
	log   *slog.Logger
}

// New returns the handler; log should add correlation ids
// (correlation.Logger()).
func New(store *orders.Store, log *slog.Logger) *Handler {
	return &Handler{store: store, log: log}
}

// Handle validates the order a change is about. It reads the order (a
// consistent read, so a reduced event works too) and acts only on a
// PLACED one. Store errors are returned for SQS to retry.
func (h *Handler) Handle(ctx context.Context, c change.Change[orders.Order]) error {
	id, err := orders.IDOf(c.Event)
	if err != nil {
		return err
	}
	log := h.log.With("eventId", c.ID, "orderId", id)
	o, err := h.store.Order(ctx, id)
	if orders.SkipMoved(ctx, log, "validate", err) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.Status != orders.Placed {
		log.InfoContext(ctx, "validate: already done", "status", string(o.Status))
		return nil
	}
	var rest *orders.Restaurant
	r, err := h.store.Restaurant(ctx, o.RestaurantID)
	switch {
	case err == nil:
		rest = &r
	case !errors.Is(err, orders.ErrNotFound):
		return err
	}
	d := Decide(o, rest)
	if d.Status == orders.Validated {
		_, err = h.store.Validate(ctx, id, d.TotalCents)
	} else {
		_, err = h.store.Reject(ctx, id, d.Reason)
	}
	if orders.SkipMoved(ctx, log, "validate", err) {
		return nil
	}
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "order validated", "status", string(d.Status), "totalCents", d.TotalCents, "reason", d.Reason)
	return nil
}
