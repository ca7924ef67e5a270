package topology_test

import (
	"fmt"

	"github.com/threefactor/framework/lib/topology"
)

// A route that fires when an order becomes PAID, the way a database
// trigger fires on a column change.
func ExampleTopology_EventPatternJSON() {
	t := topology.Topology{
		App:       "shop",
		Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{{Name: "notify"}},
		Routes: []topology.Route{{
			Name: "paid", Function: "notify",
			Match: topology.Match{
				Table: "orders",
				New:   map[string]topology.Condition{"status": topology.Is("PAID")},
				Old:   map[string]topology.Condition{"status": topology.AnythingBut("PAID")},
			},
		}},
	}
	fmt.Println(t.Validate())
	fmt.Println(t.EventPatternJSON(t.Routes[0]))
	// Output:
	// <nil>
	// {"detail":{"new":{"status":["PAID"]},"old":{"status":[{"anything-but":["PAID"]}]},"table":["orders"]},"detail-type":["Change"],"source":["shop.changes"]}
}
