package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/cli"
	loadkit "github.com/threefactor/framework/lib/load"
)

// TestLoadKit runs `threefactor load` against the dev runtime (cmd/dev, as
// `make dev` runs it) at 5 orders a second for 3 seconds, with two
// subscribers per order: every order reaches DRIVER_ASSIGNED, each
// measurement is there and in range, no error is counted, and every
// dead-letter queue of the app was read before and after the run with
// nothing new in it.
func TestLoadKit(t *testing.T) {
	s := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := cli.Run(ctx, cli.Config{App: fooddelivery.App}, []string{
		"load", "--rate", "5", "--duration", "3s", "--subscribers", "2",
		"--url", s.url, "--state-dir", s.StateDir, "--timeout", "2m", "--json",
	}, &out, &errb)
	if code != 0 {
		t.Fatalf("threefactor load exited %d: %s", code, errb.String())
	}
	var rep loadkit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report %s: %v", out.String(), err)
	}
	if rep.Orders != 15 || rep.Assigned != rep.Orders || len(rep.Errors) != 0 {
		t.Fatalf("%d placed, %d assigned, errors %v; want 15, 15, none\n%s", rep.Orders, rep.Assigned, rep.Errors, errb.String())
	}
	for name, p := range map[string]loadkit.Percentiles{"placeOrder": rep.PlaceOrder, "push": rep.Push, "placeToAssigned": rep.PlaceToAssigned} {
		if p.N == 0 || p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
			t.Errorf("%s: %+v", name, p)
		}
	}
	if rep.PlaceOrder.N != 15 || rep.Push.N != 30 || rep.PlaceToAssigned.N != 15 {
		t.Errorf("samples: placeOrder %d, push %d (two subscribers), placeToAssigned %d", rep.PlaceOrder.N, rep.Push.N, rep.PlaceToAssigned.N)
	}
	if rep.PlaceToAssigned.P50 <= rep.PlaceOrder.P50 {
		t.Errorf("place to DRIVER_ASSIGNED %.1f ms is not longer than placeOrder %.1f ms", rep.PlaceToAssigned.P50, rep.PlaceOrder.P50)
	}
	want := loadkit.LocalDeadLetterQueues(fooddelivery.App.Topology())
	if len(rep.DeadLetters) != len(want) || len(rep.DeadLettersBefore) != len(want) {
		t.Fatalf("dead-letter queues read: before %v, after %v; want all %d of the app's", rep.DeadLettersBefore, rep.DeadLetters, len(want))
	}
	if n := rep.NewDeadLetters(); n != 0 {
		t.Errorf("%d messages dead-lettered during the run: %v (before %v)", n, rep.DeadLetters, rep.DeadLettersBefore)
	}
	// The text report says the same.
	var text bytes.Buffer
	rep.Print(&text)
	for _, w := range []string{"15 placed, 15 reached DRIVER_ASSIGNED", "errors: none", "(0 new)"} {
		if !bytes.Contains(text.Bytes(), []byte(w)) {
			t.Errorf("text report lacks %q:\n%s", w, text.String())
		}
	}
	t.Logf("threefactor load's report:\n%s", text.String())
}
