package assigndriver_test

import (
	"fmt"

	"github.com/threefactor/framework/functions/assigndriver"
)

// The same order always gets the same driver, so a redelivered event can
// only repeat the choice.
func ExamplePickDriver() {
	pool := []string{"ada", "bo", "cy"}
	first := assigndriver.PickDriver("ord_1", pool)
	again := assigndriver.PickDriver("ord_1", pool)
	fmt.Println(first, again)
	// Output: cy cy
}
