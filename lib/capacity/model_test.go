package capacity

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The model's arithmetic, held to hand-computed cases.
func TestRouterShard(t *testing.T) {
	for _, tc := range []struct {
		batch, conc int
		call, cpu   time.Duration
		want        float64
	}{
		{100, 10, 20 * time.Millisecond, 0, 5000}, // ten calls in one round
		{100, 1, 20 * time.Millisecond, 0, 500},   // ten rounds
		{100, 3, 20 * time.Millisecond, 0, 1250},  // four rounds
		{5, 10, 20 * time.Millisecond, 0, 250},    // one call of five
		{100, 10, 20 * time.Millisecond, 20 * time.Microsecond, 100 / 0.022},
	} {
		if got := RouterShard(tc.batch, tc.conc, tc.call, tc.cpu); math.Abs(got-tc.want) > 0.01*tc.want {
			t.Errorf("RouterShard(%d, %d, %s, %s) = %.0f, want %.0f", tc.batch, tc.conc, tc.call, tc.cpu, got, tc.want)
		}
	}
}

func TestHotTopic(t *testing.T) {
	// 20,000 at 2,000/s after a burst of 200: 9.9 s, plus enqueue and the last post.
	got := HotTopic(20000, 2000, 200, 1e9, 300*time.Millisecond, 10*time.Millisecond)
	if want := 300*time.Millisecond + 9900*time.Millisecond + 10*time.Millisecond; got != want {
		t.Errorf("HotTopic = %s, want %s", got, want)
	}
	// A machine that posts 1,000/s is the limit, and it has no burst to spend.
	if got := HotTopic(20000, 2000, 200, 1000, 0, 0); got != 20*time.Second {
		t.Errorf("HotTopic at 1,000/s capacity = %s, want 20s", got)
	}
}

// TestPredict: loads grow with the rate, the stages come most utilized
// first, the first limit is named with what moves it and its source, and
// the latencies stay finite below saturation and not above.
func TestPredict(t *testing.T) {
	m := Reference()
	var last Prediction
	for _, r := range []float64{10, 100, 1000, 10000} {
		p := m.Predict(r)
		for i, st := range p.Stages {
			if i > 0 && st.Utilization > p.Stages[i-1].Utilization {
				t.Fatalf("%v orders/s: stages out of order at %s", r, st.Name)
			}
			if st.Source == "" || st.Move == "" || st.Limit == "" || st.Capacity <= 0 {
				t.Fatalf("%v orders/s: stage %+v lacks a capacity, limit, move or source", r, st)
			}
		}
		if last.OrdersPerS > 0 && p.Concurrency <= last.Concurrency {
			t.Errorf("concurrency %.1f at %v orders/s, %.1f at %v", p.Concurrency, r, last.Concurrency, last.OrdersPerS)
		}
		if p.Saturation <= 0 || m.Predict(p.Saturation * 0.99).Stages[0].Utilization >= 1 || p.FirstLimit.Utilization < 1 {
			t.Errorf("saturation %.0f (%s) at %v orders/s", p.Saturation, p.FirstLimit.Name, r)
		}
		last = p
	}
	low := m.Predict(10)
	if low.Stages[0].Utilization >= 1 || low.PlaceToAssigned <= 0 || low.PlaceToAssigned > 10*time.Second {
		t.Errorf("at 10 orders/s: first stage %s at %.2f, place to assigned %s", low.Stages[0].Name, low.Stages[0].Utilization, low.PlaceToAssigned)
	}
	high := m.Predict(10000)
	if high.Stages[0].Utilization < 1 {
		t.Errorf("at 10,000 orders/s nothing saturates: %+v", high.Stages[0])
	}
	// With every account quota raised tenfold the first limit moves.
	raised := m
	raised.Quotas.APIGatewayRPS *= 10
	raised.Quotas.WebSocketConnectsPerS *= 10
	raised.Quotas.TableWritesPerS *= 10
	raised.Quotas.InvocationsPerS *= 10
	if a, b := m.Predict(1000).Saturation, raised.Predict(1000).Saturation; b <= a {
		t.Errorf("raising the quotas did not raise the saturation: %.0f then %.0f", a, b)
	}
	// Provisioned for 10,000 orders/s, nothing is over the headroom and
	// the latencies are finite.
	pm, reqs := m.Provisioned(10000, 0.7)
	if len(reqs) == 0 {
		t.Fatal("10,000 orders/s fits the default quotas")
	}
	pp := pm.Predict(10000)
	if pp.Stages[0].Utilization > 0.7+1e-9 || pp.PlaceToAssigned >= time.Minute {
		t.Errorf("provisioned: %s at %.2f, place to assigned %s", pp.Stages[0].Name, pp.Stages[0].Utilization, pp.PlaceToAssigned)
	}
}

// TestCost: the lines add up, each cites its price, and the reference
// workflow's cost is in the expected range.
func TestCost(t *testing.T) {
	c := Reference().CostPerMillionOrders(1000)
	var sum float64
	for _, l := range c.Lines {
		if l.Dollars <= 0 || !strings.HasPrefix(l.Source, "https://") && !strings.HasPrefix(l.Source, "docs/") {
			t.Errorf("line %+v", l)
		}
		sum += l.Dollars
	}
	if math.Abs(sum-c.Total) > 1e-9 {
		t.Errorf("lines add to %.4f, total %.4f", sum, c.Total)
	}
	// Hand count: WebSocket messages alone are 16 M × $1/M.
	if c.Total < 40 || c.Total > 200 {
		t.Errorf("cost per million orders %.2f, outside 40..200", c.Total)
	}
	// Fuller batches at a higher rate cost no more.
	if hi := Reference().CostPerMillionOrders(10000).Total; hi > Reference().CostPerMillionOrders(10).Total {
		t.Errorf("cost at 10,000 orders/s %.2f above the cost at 10/s", hi)
	}
}
