package router

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/benchfig"
)

// benchRecord is a stream record of an order's MODIFY, as the stream
// mapping delivers it.
func benchRecord(b *testing.B) events.DynamoDBEventRecord {
	raw, err := os.ReadFile("testdata/order-modify-record.json")
	if err != nil {
		b.Fatal(err)
	}
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.Fatal(err)
	}
	return rec
}

// BenchmarkRoute is the router's own cost per record, without AWS calls:
// stream record -> change event -> the EventBridge entry PutEvents sends.
// Its baseline is the floor: one json.Marshal of the same record's images
// (as the stream delivers them, DynamoDB JSON). The two alternate, 50
// records at a time, in one loop, each timed on its own in CPU time, so
// that both see the same machine (see lib/consumer's BenchmarkConsume).
func BenchmarkRoute(b *testing.B) {
	rec := benchRecord(b)
	r, err := New(Config{
		Client: newFakeBus(), BusName: "fooddelivery-bus", Source: "fooddelivery.changes",
		Tables: map[string]string{"fooddelivery-orders": "orders"}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	images := struct {
		Old map[string]events.DynamoDBAttributeValue `json:"old"`
		New map[string]events.DynamoDBAttributeValue `json:"new"`
	}{rec.Change.OldImage, rec.Change.NewImage}
	ctx := context.Background()
	var size, marshalled int
	var route, baseline time.Duration
	// Records are timed a chunk at a time: reading the CPU time is a
	// system call, too slow to make around each record.
	const chunk = 50
	for b.Loop() {
		start := benchfig.CPUTime()
		for range chunk {
			p, err := r.prepare(ctx, &rec)
			if err != nil {
				b.Fatal(err)
			}
			size = p.size
		}
		route += benchfig.CPUTime() - start
		start = benchfig.CPUTime()
		for range chunk {
			out, err := json.Marshal(images)
			if err != nil {
				b.Fatal(err)
			}
			marshalled = len(out)
		}
		baseline += benchfig.CPUTime() - start
	}
	if size < 500 || marshalled < 500 {
		b.Fatalf("entry of %d bytes, images of %d", size, marshalled)
	}
	b.ReportMetric(testing.AllocsPerRun(20, func() { r.prepare(ctx, &rec) }), "allocs/record")
	b.ReportMetric(testing.AllocsPerRun(20, func() { json.Marshal(images) }), "baseline-allocs/record")
	n := float64(b.N * chunk)
	perRec, perBase := float64(route.Nanoseconds())/n, float64(baseline.Nanoseconds())/n
	b.ReportMetric(perRec, "ns/record")
	b.ReportMetric(perBase, "baseline-ns/record")
	b.ReportMetric(perRec/perBase, "x-baseline")
	benchfig.Record("router_ns_per_record", perRec, "ns")
	benchfig.Record("router_baseline_ns_per_record", perBase, "ns")
}
