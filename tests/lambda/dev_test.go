package lambda

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/harness"
)

// `make dev` with DEV_LAMBDA=binary runs every function as its binary
// under the runtime interface emulator, and the workflow goes through them
// end to end: the order ends DRIVER_ASSIGNED with exactly one payment.
func TestDevRunsBinaries(t *testing.T) {
	t.Parallel()
	d := harness.StartDev(t, harness.FreeAddr(t), "DEV_LAMBDA=binary")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := &gqlClient{url: "http://" + d.Addr + topology.GraphQLPath, token: d.Token(t, devissuer.Options{Subject: "customer-1"})}
	o, err := c.orderToDelivery(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, o)
	log, _ := os.ReadFile(d.Log)
	if !strings.Contains(string(log), "binaries under the runtime interface emulator (DEV_LAMBDA=binary)") {
		t.Errorf("the dev runtime did not say it ran the binaries; its log:\n%s", log)
	}
}
