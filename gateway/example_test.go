package gateway_test

import (
	"encoding/json"
	"fmt"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/change"
)

// The realtime fan-out stores a subscription under its topic and delivers
// each change to the subscriptions of the change's topics.
func ExampleSubscriptionTopic() {
	sub, _ := gateway.SubscriptionTopic("orderUpdated", map[string]any{"id": "ord_42"})
	staff, _ := gateway.SubscriptionTopic("restaurantOrderUpdated", map[string]any{"restaurantId": "r-pizza"})
	keys, _ := json.Marshal(map[string]string{"id": "ord_42"})
	image, _ := json.Marshal(map[string]string{"id": "ord_42", "restaurantId": "r-pizza", "status": "PAID"})
	fmt.Println(sub)
	fmt.Println(staff)
	fmt.Println(gateway.ChangeTopics(change.Event{Table: "orders", Keys: keys, New: image}))
	// Output:
	// orderUpdated:ord_42
	// restaurantOrders:r-pizza
	// [orderUpdated:ord_42 restaurantOrders:r-pizza]
}
