package fooddelivery

import (
	"context"
	"time"

	"github.com/threefactor/framework/functions/assigndriver"
	"github.com/threefactor/framework/functions/processpayment"
	"github.com/threefactor/framework/functions/restaurantapproval"
	"github.com/threefactor/framework/functions/validateorder"
	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/topology"
)

// Table names of the food-delivery app.
const (
	Orders      = orders.OrdersTable
	Restaurants = orders.RestaurantsTable
	Charges     = processpayment.ChargesTable
)

// App is the food-delivery app: a customer places an order, it is
// validated, paid, approved by the restaurant and given a driver, each
// step a function that one committed change starts.
var App = app.App{
	Name: "fooddelivery",
	// Every table has a stream, so that every change is in the event log:
	// an item's audit trail, and restore, cover all of the app's data.
	Tables: []topology.Table{
		// A customer's orders (myOrders) and a restaurant's
		// (restaurantOrders), newest first.
		{Name: Orders, PartitionKey: topology.Key{Name: "id", Type: topology.String}, Indexes: orders.Indexes(), Stream: true},
		{Name: Restaurants, PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		{Name: Charges, PartitionKey: topology.Key{Name: "idempotencyKey", Type: topology.String}, Stream: true},
	},
	Functions: []app.Function{
		{
			Function: topology.Function{Name: validateorder.Name, Tables: []string{Orders, Restaurants}, Timeout: 10 * time.Second},
			Handler:  app.Handle(validateorder.Build),
		},
		{
			Function: topology.Function{Name: processpayment.Name, Tables: []string{Orders, Charges}, Timeout: 20 * time.Second},
			Handler:  app.Handle(processpayment.Build),
			// Try the provider's transient failures locally:
			// PAYMENT_FAILURE_RATE=0.5 make dev.
			DevEnv: []string{processpayment.EnvFailureRate},
		},
		{
			Function: topology.Function{Name: restaurantapproval.Name, Tables: []string{Orders}, Timeout: 10 * time.Second},
			Handler:  app.Handle(restaurantapproval.Build),
		},
		{
			Function: topology.Function{Name: assigndriver.Name, Tables: []string{Orders}, Timeout: 10 * time.Second},
			Handler:  app.Handle(assigndriver.Build),
		},
	},
	Routes: []topology.Route{
		{
			// A new order is checked against the restaurant's menu.
			Name: "validate-order", Function: validateorder.Name,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Insert},
				New: map[string]topology.Condition{"status": topology.Is("PLACED")},
			},
		},
		{
			// payOrder recorded a payment intent on a validated order.
			Name: "process-payment", Function: processpayment.Name,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Modify},
				New:     map[string]topology.Condition{"status": topology.Is("VALIDATED")},
				Changed: []string{"paymentIntent"},
			},
			// The provider fails transiently; every retry is safe (the
			// intent id is its idempotency key), so keep trying for a
			// while (about half an hour with the backoff) before a person
			// has to look at the dead-letter queue.
			MaxReceiveCount: 20,
		},
		{
			// The order became PAID.
			Name: "restaurant-approval", Function: restaurantapproval.Name,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Modify},
				New: map[string]topology.Condition{"status": topology.Is("PAID")},
				Old: map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
			},
		},
		{
			// The restaurant approved the order.
			Name: "assign-driver", Function: assigndriver.Name,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Modify},
				New: map[string]topology.Condition{"status": topology.Is("APPROVED")},
				Old: map[string]topology.Condition{"status": topology.AnythingBut("APPROVED")},
			},
		},
	},
	GraphQL: gateway.API,
	// Restaurant staff: the group "restaurant" and the restaurant they
	// work for, set by an administrator (custom:restaurantId in tokens).
	Users: gateway.Users,
	Seed:  seed,
}

// seed writes the demo restaurants a fresh local environment starts with.
func seed(ctx context.Context, env *app.Env) (int, error) {
	store, err := orders.StoreFromEnv(env)
	if err != nil {
		return 0, err
	}
	return orders.Seed(ctx, store, orders.SeedRestaurants)
}
