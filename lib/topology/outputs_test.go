package topology_test

import (
	"testing"

	"github.com/threefactor/framework/lib/topology"
)

func TestStackOutputNames(t *testing.T) {
	for route, want := range map[string][2]string{
		"validate-order": {"RouteValidateOrderQueueUrl", "RouteValidateOrderDeadLetterQueueUrl"},
		"a1-b2c":         {"RouteA1B2cQueueUrl", "RouteA1B2cDeadLetterQueueUrl"},
	} {
		if got := [2]string{topology.RouteQueueURLOutput(route), topology.RouteDLQURLOutput(route)}; got != want {
			t.Errorf("%s: %v, want %v", route, got, want)
		}
	}
}
