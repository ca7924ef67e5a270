package tests

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/tests/harness"
)

// The dev process is killed with SIGKILL in the middle of a burst of new
// orders and started again: every order is still validated by the app's
// validate-order function. What the dead process had read from the stream
// but not checkpointed is routed again, and what it had received from the
// queue but not deleted comes back after the visibility timeout.
func TestCrashMidBurstLosesNoEvent(t *testing.T) {
	const (
		burst     = 200
		killAfter = 60 // orders written before the kill
	)
	cfg := emulatortest.Config(t)
	store := orders.NewStore(dynamodb.NewFromConfig(cfg), orders.Tables{
		Orders:      appevents.Topology.TableName(appevents.Orders),
		Restaurants: appevents.Topology.TableName(appevents.Restaurants),
	})
	addr := harness.FreeAddr(t)
	dev := harness.StartDev(t, addr)

	run := fmt.Sprintf("crash-%d", time.Now().UnixNano())
	ids := make([]string, burst)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", run, i)
	}
	var written atomic.Int64
	next := make(chan string)
	writeErr := make(chan error, 4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				_, err := store.Place(context.Background(), orders.Order{
					ID: id, RestaurantID: "r-pizza",
					Items: []orders.Item{{MenuItemID: "margherita", Quantity: 2}, {MenuItemID: "tiramisu", Quantity: 1}},
				})
				if err != nil {
					writeErr <- err
					return
				}
				written.Add(1)
			}
		}()
	}
	killed := false
	for i, id := range ids {
		if i == killAfter {
			// Let the pipeline get some of the burst in flight, then crash.
			harness.WaitFor(t, time.Minute, "the first order validated", func() bool {
				return status(t, store, ids[0]) == orders.Validated
			})
			dev.Kill9(t)
			killed = true
		}
		select {
		case next <- id:
		case err := <-writeErr:
			t.Fatalf("write: %v", err)
		}
	}
	close(next)
	wg.Wait()
	if !killed || written.Load() != burst {
		t.Fatalf("killed=%v written=%d, want a kill mid-burst and %d writes", killed, written.Load(), burst)
	}
	before := 0
	for _, id := range ids {
		if status(t, store, id) == orders.Validated {
			before++
		}
	}
	t.Logf("after the kill, before the restart: %d of %d orders validated", before, burst)
	if before == burst {
		t.Fatalf("every order was validated before the restart: the kill did not interrupt the burst")
	}

	harness.StartDev(t, addr)
	// In-flight messages of the killed process return after the queue's
	// visibility timeout (six times validate-order's timeout).
	fn, _ := appevents.Topology.Function(appevents.ValidateOrder)
	wait := 6*fn.Timeout + 2*time.Minute
	var pending []string
	harness.WaitFor(t, wait, "every order validated after the restart", func() bool {
		pending = pending[:0]
		for _, id := range ids {
			if status(t, store, id) != orders.Validated {
				pending = append(pending, id)
			}
		}
		return len(pending) == 0
	})
	for _, id := range ids[:5] {
		o, err := store.Order(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if o.TotalCents != 2*900+550 {
			t.Errorf("order %s total %d, want %d", id, o.TotalCents, 2*900+550)
		}
	}
}

func status(t testing.TB, s *orders.Store, id string) orders.Status {
	t.Helper()
	o, err := s.Order(context.Background(), id)
	if errors.Is(err, orders.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("read order %s: %v", id, err)
	}
	return o.Status
}
