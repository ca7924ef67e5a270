package fanout

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestPacer: no pace until the API throttles; then 1.05 times the rate it
// accepts (measured over the last second); a second without throttling
// raises the pace until it is released.
func TestPacer(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newPacer(func() time.Time { return now })
	if p.wait(context.Background()) != nil || p.pace() != 0 {
		t.Fatal("paced before any throttle")
	}
	// 100 accepted in the first 100 ms, then a throttle.
	for range 100 {
		now = now.Add(time.Millisecond)
		p.ok()
	}
	p.throttled()
	if got := p.pace(); math.Abs(got-1050) > 60 {
		t.Fatalf("pace after the first throttle = %.0f, want about 1.05 x 1000/s", got)
	}
	// Two seconds at 500 accepted a second, throttled all along.
	for range 1000 {
		now = now.Add(2 * time.Millisecond)
		p.ok()
		p.throttled()
	}
	if got := p.pace(); math.Abs(got-525) > 30 {
		t.Fatalf("pace at 500/s accepted = %.0f, want about 525", got)
	}
	// No more throttles: the pace rises and is then released.
	for i := 0; p.pace() != 0; i++ {
		if i > 2000 {
			t.Fatalf("pace still %.0f after %d posts without a throttle", p.pace(), i)
		}
		now = now.Add(2 * time.Millisecond)
		p.ok()
	}
}

// TestPacerSpacesPosts: once paced, wait hands out start times one pace
// interval apart.
func TestPacerSpacesPosts(t *testing.T) {
	p := newPacer(time.Now)
	p.mu.Lock()
	p.rate = 200 // 5 ms apart
	p.mu.Unlock()
	start := time.Now()
	for range 21 {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 95*time.Millisecond {
		t.Fatalf("21 posts at 200/s started within %s, want them 5 ms apart", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx); err == nil {
		t.Fatal("wait on an ended context succeeded")
	}
}
