package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/realtime/wsclient"
	"github.com/threefactor/framework/tests/harness"
)

var consoleShots = flag.Bool("console-screenshots", false, "TestConsoleInBrowser: write the console's screenshots to docs/img")

// TestConsoleInBrowser uses the local console in headless Chromium after
// an order ran into a bug (assign-driver failing it, its message
// dead-lettered) and the fix was deployed: the page shows the order's
// events as it opens, a change committed while it is open, the event's
// deliveries with the dead-lettered one and its push to a subscriber,
// the request's trace from the mutation to the last push, the
// order's history; its Drop button deletes another order's dead letter
// and its Redrive button empties the queue, after which the order gets
// its driver and the dropped one stays where it was. With -console-screenshots it
// writes the screenshots of docs/console.md.
func TestConsoleInBrowser(t *testing.T) {
	var fault atomic.Bool
	fault.Store(true)
	a := faultyApp("fdconsole", &fault)
	s := devapptest.Start(t, a)
	c := stackClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The order, watched by a subscriber: its changes are pushed.
	o, err := c.placeOrder(ctx, "r-pizza", item("margherita", 2), item("tiramisu", 1))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := wsclient.Dial(ctx, wsclient.Config{URL: s.WebSocketURL(), ConnectionParams: wsclient.Bearer(c.token)})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sub, err := ws.Subscribe(ctx, wsclient.Request{Query: `subscription($id: ID!) { orderUpdated(id: $id) { id status } }`, Variables: map[string]any{"id": o.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Ping(ctx); err != nil { // the subscription is registered
		t.Fatal(err)
	}
	if o, err = c.waitFor(ctx, o.ID, "VALIDATED"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.payOrder(ctx, o.ID, o.TotalCents); err != nil {
		t.Fatal(err)
	}
	if o, err = c.waitFor(ctx, o.ID, "APPROVED"); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription: %v", err)
		}
		if strings.Contains(string(r.Data), `"APPROVED"`) {
			break
		}
	}
	// A second order the bug hits, whose message the page drops.
	dropped, err := placeAndPay(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err = c.waitFor(ctx, dropped.ID, "APPROVED"); err != nil {
		t.Fatal(err)
	}
	dlqURL := s.RT.Resources().Routes["assign-driver"].DLQURL
	sq := sqs.NewFromConfig(s.RT.AWS())
	harness.WaitFor(t, time.Minute, "the poison messages in assign-driver's dead-letter queue", func() bool {
		return harness.Depth(t, sq, dlqURL) == 2
	})
	deadLettered(t, s, a, o.ID)
	deadLettered(t, s, a, dropped.ID)
	fault.Store(false) // the fix is deployed

	shots := t.TempDir()
	if *consoleShots {
		shots = filepath.Join(repoRoot(), "docs", "img")
	}
	cmd := browserScript(ctx, t, "console.mjs", s.RT.URL(), o.ID, dropped.ID, shots)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := map[string]map[string]any{}
	var placeErr error
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var st map[string]any
		if json.Unmarshal(sc.Bytes(), &st) != nil {
			continue
		}
		name, _ := st["step"].(string)
		steps[name] = st
		if name == "waiting" {
			// An order placed while the page is open.
			var live order
			if live, placeErr = c.placeOrder(ctx, "r-pizza", item("margherita", 1)); placeErr != nil {
				_, _ = io.WriteString(stdin, "none\n")
				continue
			}
			steps["placed"] = map[string]any{"id": live.ID}
			_, _ = fmt.Fprintln(stdin, live.ID)
		}
	}
	if err := cmd.Wait(); err != nil || placeErr != nil {
		t.Fatalf("console.mjs: %v (place: %v)\nsteps: %v\n%s", err, placeErr, steps, stderr.String())
	}
	for _, want := range []string{"recent", "live", "event", "trace", "history", "drop", "redrive", "assigned"} {
		if steps[want] == nil {
			t.Errorf("step %s not done: %v", want, steps)
		}
	}
	if steps["live"]["item"] != "orders/"+steps["placed"]["id"].(string) || steps["drop"]["badge"] != "2" {
		t.Errorf("steps %v", steps)
	}
	// What the page showed, the app did: the redriven order got its driver.
	done, err := c.waitFor(ctx, o.ID, "DRIVER_ASSIGNED")
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, done)
	if d := harness.Depth(t, sq, dlqURL); d != 0 {
		t.Errorf("%d message(s) left in the dead-letter queue", d)
	}
	// The dropped one never ran again.
	if got, err := c.order(ctx, dropped.ID); err != nil || got.Status != "APPROVED" {
		t.Errorf("dropped order %s: %+v, %v; want it left APPROVED", dropped.ID, got, err)
	}
	t.Logf("steps: %v", steps)
}
