package events

import (
	"time"

	"github.com/threefactor/framework/lib/topology"
)

// Table names of the food-delivery app.
const (
	Orders      = "orders"
	Restaurants = "restaurants"
	// Charges is the simulated payment provider's ledger: one item per
	// captured charge, keyed by the provider idempotency key (the payment
	// intent id). A real provider keeps this on its side.
	Charges = "charges"
)

// Function names (each is a folder under functions/).
const (
	ValidateOrder      = "validateorder"
	ProcessPayment     = "processpayment"
	RestaurantApproval = "restaurantapproval"
	AssignDriver       = "assigndriver"
)

// Topology is the app's one declaration: tables, functions and the routes
// that carry each committed change to the function that takes the next step.
var Topology = topology.Topology{
	App: "fooddelivery",
	Tables: []topology.Table{
		{Name: Orders, PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		{Name: Restaurants, PartitionKey: topology.Key{Name: "id", Type: topology.String}},
		{Name: Charges, PartitionKey: topology.Key{Name: "idempotencyKey", Type: topology.String}},
	},
	Functions: []topology.Function{
		{Name: ValidateOrder, Tables: []string{Orders, Restaurants}, Timeout: 10 * time.Second},
		{Name: ProcessPayment, Tables: []string{Orders, Charges}, Timeout: 20 * time.Second},
		{Name: RestaurantApproval, Tables: []string{Orders}, Timeout: 10 * time.Second},
		{Name: AssignDriver, Tables: []string{Orders}, Timeout: 10 * time.Second},
	},
	Routes: []topology.Route{
		{
			// A new order is checked against the restaurant's menu.
			Name: "validate-order", Function: ValidateOrder,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Insert},
				New: map[string]topology.Condition{"status": topology.Is("PLACED")},
			},
		},
		{
			// payOrder recorded a payment intent on a validated order.
			Name: "process-payment", Function: ProcessPayment,
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
			Name: "restaurant-approval", Function: RestaurantApproval,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Modify},
				New: map[string]topology.Condition{"status": topology.Is("PAID")},
				Old: map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
			},
		},
		{
			// The restaurant approved the order.
			Name: "assign-driver", Function: AssignDriver,
			Match: topology.Match{
				Table: Orders, Operations: []topology.Operation{topology.Modify},
				New: map[string]topology.Condition{"status": topology.Is("APPROVED")},
				Old: map[string]topology.Condition{"status": topology.AnythingBut("APPROVED")},
			},
		},
	},
}
