package capacity

import (
	"fmt"
	"os"
	"testing"

	"github.com/threefactor/framework/lib/benchfig"
)

func TestMain(m *testing.M) { os.Exit(benchfig.Main(m)) }

// BenchmarkModel prints the model's predictions for the reference app at
// 10, 100, 1,000 and 10,000 orders a second (the local runs' predictions
// are printed by the benchmarks that measure them: router_shard_* in
// lib/router, fanout_hot_topic_* in lib/realtime/fanout), and records the
// cost of a million orders at 1,000 orders a second. Its baseline is the
// same workflow without the event log, the cost the log adds.
func BenchmarkModel(b *testing.B) {
	m := Reference()
	bare := m
	bare.Workload.LogPerChange, bare.Workload.LogPerDelivery, bare.Workload.LogPerPush = 0, 0, 0
	var cost, base Cost
	var p Prediction
	for b.Loop() {
		cost, base = m.CostPerMillionOrders(1000), bare.CostPerMillionOrders(1000)
		p = m.Predict(1000)
	}
	m.Report(os.Stdout, 10, 100, 1000, 10000)
	benchfig.Record("cost_per_million_orders_usd", cost.Total, "USD")
	benchfig.Record("cost_per_million_orders_baseline_no_event_log_usd", base.Total, "USD")
	benchfig.Record("model_saturation_orders_per_s", p.Saturation, "orders/s")
	for _, r := range []float64{1000, 10000} {
		pm, _ := m.Provisioned(r, Headroom)
		q := pm.Predict(r)
		name := fmt.Sprintf("model_%.0f_orders", r)
		benchfig.Record(name+"_place_to_assigned_ms", float64(q.PlaceToAssigned.Milliseconds()), "ms")
		benchfig.Record(name+"_lambda_concurrency", q.Concurrency, "executions")
	}
}
