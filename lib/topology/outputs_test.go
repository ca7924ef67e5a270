package topology_test

import (
	"testing"

	"github.com/threefactor/framework/lib/topology"
)

func TestStackOutputNames(t *testing.T) {
	for name, want := range map[string][3]string{
		"validate-order": {"TableValidateOrder", "QueueValidateOrder", "DLQValidateOrder"},
		"a1-b2c":         {"TableA1B2c", "QueueA1B2c", "DLQA1B2c"},
	} {
		if got := [3]string{topology.TableOutput(name), topology.QueueOutput(name), topology.DLQOutput(name)}; got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}
