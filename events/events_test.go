package events_test

import (
	"testing"

	"github.com/threefactor/framework/events"
)

func TestTopologyIsValid(t *testing.T) {
	if err := events.Topology.Validate(); err != nil {
		t.Fatal(err)
	}
}
