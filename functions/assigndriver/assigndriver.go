// Package assigndriver is the assign-driver step: an APPROVED order gets
// a driver and becomes DRIVER_ASSIGNED.
//
// Idempotent: the driver is chosen deterministically from the order id,
// and the write is conditional on status = APPROVED, so a redelivered
// event does nothing and a racing duplicate could only pick the same
// driver.
package assigndriver

import (
	"context"
	"hash/fnv"
	"log/slog"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
)

// DefaultDrivers is the simulated driver pool.
var DefaultDrivers = []string{"driver-ada", "driver-bo", "driver-cy", "driver-dee", "driver-eli"}

// PickDriver chooses a driver from pool for an order, always the same one
// for the same order id and pool. pool must not be empty.
func PickDriver(orderID string, pool []string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID))
	return pool[h.Sum32()%uint32(len(pool))]
}

// Name is the function's name in the app declaration.
const Name = "assigndriver"

// Build builds the handler from its environment: the orders table.
func Build(_ context.Context, env *app.Env) (consumer.Handler[orders.Order], error) {
	store, err := orders.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	return New(store, nil, env.Logger).Handle, nil
}

// Handler handles the assign-driver route.
type Handler struct {
	store   *orders.Store
	drivers []string
	log     *slog.Logger
}

// New returns the handler; drivers nil selects DefaultDrivers.
func New(store *orders.Store, drivers []string, log *slog.Logger) *Handler {
	if len(drivers) == 0 {
		drivers = DefaultDrivers
	}
	return &Handler{store: store, drivers: drivers, log: log}
}

// Handle assigns a driver to the order a change is about when it is APPROVED.
func (h *Handler) Handle(ctx context.Context, c change.Change[orders.Order]) error {
	id, err := orders.IDOf(c.Event)
	if err != nil {
		return err
	}
	log := h.log.With("eventId", c.ID, "orderId", id)
	driver := PickDriver(id, h.drivers)
	_, err = h.store.AssignDriver(ctx, id, driver)
	if orders.SkipMoved(ctx, log, "assign driver", err) {
		return nil
	}
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "driver assigned", "driverId", driver)
	return nil
}
