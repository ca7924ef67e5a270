package orders_test

import (
	"fmt"

	"github.com/threefactor/framework/gateway/orders"
)

func ExampleRestaurant_MenuItem() {
	pizza := orders.SeedRestaurants[0]
	m, ok := pizza.MenuItem("diavola")
	fmt.Println(m.Name, m.PriceCents, ok)
	_, ok = pizza.MenuItem("sushi")
	fmt.Println(ok)
	// Output:
	// Diavola 1100 true
	// false
}
