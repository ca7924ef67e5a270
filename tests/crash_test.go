package tests

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/validateorder"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/emulator"
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
		Orders:      fooddelivery.App.Topology().TableName(fooddelivery.Orders),
		Restaurants: fooddelivery.App.Topology().TableName(fooddelivery.Restaurants),
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
	fn, _ := fooddelivery.App.Topology().Function(validateorder.Name)
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

// Without AWS_ENDPOINT_URL, cmd/dev starts a long-lived emulator that
// outlives a kill -9 of its process group with its data, is reused by the
// next start, and is stopped and wiped by -wipe.
func TestDevEmulatorOutlivesCrashUntilWiped(t *testing.T) {
	ctx := context.Background()
	stateDir := filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() { _ = emulator.StopRecorded(stateDir) })
	addr := harness.FreeAddr(t)
	dev := harness.StartDevWith(t, harness.DevOptions{Addr: addr, StateDir: stateDir, OwnEmulator: true})
	if out := dev.Output(t); !strings.Contains(out, "started the local emulator") {
		t.Errorf("first start did not report starting the emulator:\n%s", out)
	}
	epBytes, err := os.ReadFile(filepath.Join(stateDir, "moto.endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	ep := strings.TrimSpace(string(epBytes))
	if ep == emulatortest.Endpoint(t) {
		t.Fatalf("dev used the test's emulator %s, want its own", ep)
	}
	cfg, err := emulator.Config(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	store := orders.NewStore(dynamodb.NewFromConfig(cfg), orders.Tables{
		Orders:      fooddelivery.App.Topology().TableName(fooddelivery.Orders),
		Restaurants: fooddelivery.App.Topology().TableName(fooddelivery.Restaurants),
	})
	kept := orders.Restaurant{ID: "r-kept", Name: "Kept across crashes", Menu: []orders.MenuItem{{ID: "bread", Name: "Bread", PriceCents: 100}}}
	if _, err := store.PutRestaurant(ctx, kept); err != nil {
		t.Fatal(err)
	}

	dev.Kill9(t)
	client := &http.Client{Timeout: 2 * time.Second}
	if !emulator.Alive(ctx, client, ep) {
		t.Fatal("the emulator died with the dev process group")
	}
	dev2 := harness.StartDevWith(t, harness.DevOptions{Addr: addr, StateDir: stateDir, OwnEmulator: true})
	if out := dev2.Output(t); strings.Contains(out, "started the local emulator") || !strings.Contains(out, ep) {
		t.Errorf("second start did not reuse the emulator at %s:\n%s", ep, out)
	}
	if _, err := store.Restaurant(ctx, "r-kept"); err != nil {
		t.Errorf("data lost across a crash and restart: %v", err)
	}
	dev2.Stop(t)

	out, err := exec.Command(harness.DevBinary(t), "-state-dir", stateDir, "-wipe").CombinedOutput()
	if err != nil {
		t.Fatalf("-wipe: %v\n%s", err, out)
	}
	harness.WaitFor(t, 15*time.Second, "the emulator stopped", func() bool { return !emulator.Alive(ctx, client, ep) })
	if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir still there after -wipe: %v", err)
	}
}
