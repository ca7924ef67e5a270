// Package restaurantapproval is the restaurant-approval step: a PAID
// order is approved by its restaurant and becomes APPROVED. The simulated
// restaurant approves every paid order.
//
// Idempotent: the write is conditional on status = PAID, so a redelivered
// event finds the order already APPROVED and does nothing.
package restaurantapproval

import (
	"context"
	"log/slog"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
)

// Name is the function's name in the app declaration.
const Name = "restaurantapproval"

// Build builds the handler from its environment: the orders table.
func Build(_ context.Context, env *app.Env) (consumer.Handler[orders.Order], error) {
	store, err := orders.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	return New(store, env.Logger).Handle, nil
}

// Handler handles the restaurant-approval route.
type Handler struct {
	store *orders.Store
	log   *slog.Logger
}

// New returns the handler.
func New(store *orders.Store, log *slog.Logger) *Handler {
	return &Handler{store: store, log: log}
}

// Handle approves the order a change is about when it is PAID.
func (h *Handler) Handle(ctx context.Context, c change.Change[orders.Order]) error {
	id, err := orders.IDOf(c.Event)
	if err != nil {
		return err
	}
	log := h.log.With("eventId", c.ID, "orderId", id)
	o, err := h.store.Approve(ctx, id)
	if orders.SkipMoved(ctx, log, "approve", err) {
		return nil
	}
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "order approved", "status", string(o.Status))
	return nil
}
