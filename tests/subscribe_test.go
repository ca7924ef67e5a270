package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/cli"
)

// syncBuffer is a buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSubscribeCommand runs `threefactor subscribe` against make dev: it
// says it is subscribed once the subscription is in place, so that what
// follows cannot be missed; it prints each push as a JSON line and stops
// at --until; a refused token or operation is exit code 1 with the
// reason.
func TestSubscribeCommand(t *testing.T) {
	s := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := s.wsURL()
	run := func(args ...string) (*syncBuffer, *syncBuffer, <-chan int) {
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- cli.Run(ctx, cli.Config{App: fooddelivery.App}, args, &out, &errb)
		}()
		return &out, &errb, done
	}

	o, err := s.placeOrder(ctx, "r-pizza", item("margherita", 2))
	if err != nil {
		t.Fatal(err)
	}
	if o, err = s.waitFor(ctx, o.ID, "VALIDATED"); err != nil {
		t.Fatal(err)
	}
	// --user mints the token with the dev runtime's issuer.
	out, errb, done := run("subscribe", `subscription ($id: ID!) { orderUpdated(id: $id) { id status } }`,
		"--var", "id="+o.ID, "--user", "alice", "--state-dir", s.StateDir, "--url", url, "--until", "DRIVER_ASSIGNED")
	rtWaitFor(t, time.Minute, "the subscribed line", func() bool {
		select {
		case code := <-done:
			t.Fatalf("exit %d before subscribing: %s", code, errb.String())
		default:
		}
		return strings.Contains(errb.String(), "subscribed at "+url)
	})
	// orderUpdated starts with a snapshot: the order as it is, with its
	// cursor; the pushes after it are what the payment causes.
	rtWaitFor(t, time.Minute, "the snapshot line", func() bool { return strings.Contains(out.String(), "\n") })
	if line := out.String(); !strings.Contains(line, `"status":"VALIDATED"`) || !strings.Contains(line, `"extensions":{"cursor":"`) {
		t.Fatalf("stdout before any change: %q, want the snapshot with its cursor", line)
	}
	if _, err := s.payOrder(ctx, o.ID, o.TotalCents); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-ctx.Done():
		t.Fatalf("no DRIVER_ASSIGNED push; stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	var statuses []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct {
			Data struct{ OrderUpdated order }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Data.OrderUpdated.ID != o.ID {
			t.Fatalf("stdout line %q: want one push of %s per line (%v)", line, o.ID, err)
		}
		statuses = append(statuses, r.Data.OrderUpdated.Status)
	}
	// The payment intent payOrder records is not a push: nothing the
	// subscription selects changed.
	if got := strings.Join(statuses, " "); got != "VALIDATED PAID APPROVED DRIVER_ASSIGNED" {
		t.Errorf("pushes %s, want VALIDATED (the snapshot) PAID APPROVED DRIVER_ASSIGNED", got)
	}

	// A token the runtime refuses, and an operation it refuses.
	_, errb, done = run("subscribe", `subscription { orderUpdated(id: "x") { status } }`, "--token", "not.a.token", "--url", url)
	if code := <-done; code != 1 || !strings.Contains(errb.String(), "refused the token") || !strings.Contains(errb.String(), "4403") {
		t.Errorf("bad token: exit %d: %s", code, errb.String())
	}
	_, errb, done = run("subscribe", `subscription { orderUpdated(id: "x") { nope } }`, "--token", s.token, "--url", url)
	if code := <-done; code != 1 || !strings.Contains(errb.String(), "the subscription was refused") || !strings.Contains(errb.String(), "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("bad subscription: exit %d: %s", code, errb.String())
	}
}
