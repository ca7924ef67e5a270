package capacity

import (
	"fmt"
	"io"
	"math"
	"time"
)

// Headroom is the utilization Report provisions each limit for.
const Headroom = 0.7

// Report writes the model's predictions at each rate: with the default
// quotas, the limits the rate goes past; the quota requests and settings
// that fit it with Headroom to spare; and, so provisioned, every stage's
// load against its capacity and the latency it adds, the end-to-end
// latencies and the cost of a million orders. It starts with the first
// limit the load reaches as it grows.
func (m Model) Report(w io.Writer, rates ...float64) {
	if p := m.Predict(1); p.Saturation > 0 {
		fmt.Fprintf(w, "model: the first limit as the load grows: %s, at %.0f orders/s (move: %s; %s)\n",
			p.FirstLimit.Name, p.Saturation, p.FirstLimit.Move, p.FirstLimit.Source)
	}
	for _, r := range rates {
		for _, st := range m.Predict(r).Stages {
			if st.Utilization >= 1 {
				fmt.Fprintf(w, "model: %g orders/s, default quotas: %s at %.0f%% of %.0f %s/s\n", r, st.Name, 100*st.Utilization, st.Capacity, st.Unit)
			}
		}
		pm, reqs := m.Provisioned(r, Headroom)
		for _, q := range reqs {
			fmt.Fprintf(w, "model: %g orders/s needs: %s %.0f -> %.0f (%s)\n", r, q.Stage, q.From, q.To, q.Move)
		}
		p := pm.Predict(r)
		fmt.Fprintf(w, "model: %g orders/s, provisioned: placeOrder %s, push %s, place to DRIVER_ASSIGNED %s, %.0f Lambda executions, %d stream shards, $%.2f per million orders\n",
			r, ms(p.MutationLatency), ms(p.PushLatency), ms(p.PlaceToAssigned), p.Concurrency, p.Shards, pm.CostPerMillionOrders(r).Total)
		for _, st := range p.Stages {
			fmt.Fprintf(w, "model:   %-66s %10.0f / %-8.0f %-11s %5.0f%%  %s\n", st.Name, st.Load, st.Capacity, st.Unit, 100*st.Utilization, ms(st.Latency))
		}
	}
}

func ms(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "saturated"
	}
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Microsecond).String()
}
