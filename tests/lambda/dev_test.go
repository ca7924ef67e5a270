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
// end to end: the order ends DRIVER_ASSIGNED with exactly one payment. Its
// two subscriptions are over the push-queue threshold the run sets
// (PUSH_QUEUE_THRESHOLD=1), so their pushes go through the push queue to
// the push worker's binary, each in commit order.
func TestDevRunsBinaries(t *testing.T) {
	t.Parallel()
	d := harness.StartDev(t, harness.FreeAddr(t), "DEV_LAMBDA=binary", topology.EnvPushQueueThreshold+"=1",
		// The push worker's line for each message it handled is at info.
		"LOG_LEVEL=info")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	token := d.Token(t, devissuer.Options{Subject: "customer-1"})
	c := &gqlClient{url: "http://" + d.Addr + topology.GraphQLPath, token: token}
	ws := dialWS(ctx, t, "ws://"+d.Addr+topology.GraphQLPath, token)
	const q = `subscription($id: ID!) { orderUpdated(id: $id) { id status } }`
	o, err := c.orderToDelivery(ctx, nil, func(id string) {
		ws.subscribe(t, "1", q, map[string]any{"id": id})
		ws.subscribe(t, "2", q, map[string]any{"id": id})
		// Each starts with its snapshot, then is live: the payment's
		// changes go to both through the fan-out (and so the push queue),
		// not through their catch-ups.
		for _, sub := range []string{"1", "2"} {
			ws.await(t, "the snapshot of subscription "+sub, func(m map[string]any) bool { return m["id"] == sub && m["type"] == "next" })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, o)
	for _, id := range []string{"1", "2"} {
		seen := ws.awaitStatus(ctx, t, id, "DRIVER_ASSIGNED")
		for i := 1; i < len(seen); i++ {
			if lifecycle[seen[i]] < lifecycle[seen[i-1]] {
				t.Errorf("subscription %s saw %v: not in commit order", id, seen)
			}
		}
	}
	ws.close(t)
	log, _ := os.ReadFile(d.Log)
	if !strings.Contains(string(log), "binaries under the runtime interface emulator (DEV_LAMBDA=binary)") {
		t.Errorf("the dev runtime did not say it ran the binaries; its log:\n%s", log)
	}
	if strings.Contains(string(log), "has no consumer") {
		t.Errorf("a route has no consumer; the dev runtime's log:\n%s", log)
	}
	if !strings.Contains(string(log), "push message handled") {
		t.Errorf("no push went through the push worker's binary; the dev runtime's log:\n%s", log)
	}
}
