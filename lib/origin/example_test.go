package origin_test

import (
	"fmt"

	"github.com/threefactor/framework/lib/origin"
)

// A deployment lists its web app; the dev runtime adds loopback. A
// request without Origin (a native app) always passes.
func ExamplePolicy_Allows() {
	p, err := origin.Parse("https://app.example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Allows("https://app.example.com"), p.Allows("https://evil.example"), p.Allows(""))
	fmt.Println(p.Allows("http://localhost:5173"), p.WithLoopback().Allows("http://localhost:5173"))
	// Output:
	// true false true
	// false true
}
