package validateorder_test

import (
	"fmt"

	"github.com/threefactor/framework/functions/validateorder"
	"github.com/threefactor/framework/gateway/orders"
)

func ExampleDecide() {
	pizza := orders.SeedRestaurants[0]
	ok := validateorder.Decide(orders.Order{Items: []orders.Item{{MenuItemID: "margherita", Quantity: 2}}}, &pizza)
	bad := validateorder.Decide(orders.Order{Items: []orders.Item{{MenuItemID: "margherita", Quantity: 60}}}, &pizza)
	fmt.Println(ok.Status, ok.TotalCents)
	fmt.Println(bad.Status, bad.Reason)
	// Output:
	// VALIDATED 1800
	// REJECTED item 1 (Margherita): quantity 60 is outside 1..50
}
