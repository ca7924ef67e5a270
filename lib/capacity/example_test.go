package capacity_test

import (
	"fmt"

	"github.com/threefactor/framework/lib/capacity"
)

// The first limit the reference app reaches as its load grows, and what
// moves it.
func ExampleModel_Predict() {
	p := capacity.Reference().Predict(1000)
	fmt.Printf("%s at %.0f orders/s\n", p.FirstLimit.Name, p.Saturation)
	fmt.Println("move:", p.FirstLimit.Move)
	// Output:
	// WebSocket connects at 500 orders/s
	// move: Service Quotas: WebSocket new connections (L-9ED1E49A); or keep one socket per customer, not per order
}
