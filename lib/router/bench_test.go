package router

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"

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

func perRecord(b *testing.B, name string, f func()) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(n)
	b.ReportMetric(ns, "ns/record")
	benchfig.Record(name, ns, "ns")
}

// BenchmarkRoute is the router's own cost per record, without AWS calls:
// stream record -> change event -> the EventBridge entry PutEvents sends.
func BenchmarkRoute(b *testing.B) {
	rec := benchRecord(b)
	r, err := New(Config{
		Client: newFakeBus(), BusName: "fooddelivery-bus", Source: "fooddelivery.changes",
		Tables: map[string]string{"fooddelivery-orders": "orders"}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var size int
	perRecord(b, "router_ns_per_record", func() {
		p, err := r.prepare(ctx, &rec)
		if err != nil {
			b.Fatal(err)
		}
		size = p.size
	})
	if size < 500 {
		b.Fatalf("entry of %d bytes", size)
	}
}

// BenchmarkRouteBaseline is the floor: one json.Marshal of the same
// record's images (as the stream delivers them, DynamoDB JSON).
func BenchmarkRouteBaseline(b *testing.B) {
	rec := benchRecord(b)
	images := struct {
		Old map[string]events.DynamoDBAttributeValue `json:"old"`
		New map[string]events.DynamoDBAttributeValue `json:"new"`
	}{rec.Change.OldImage, rec.Change.NewImage}
	var out []byte
	perRecord(b, "router_baseline_ns_per_record", func() {
		var err error
		if out, err = json.Marshal(images); err != nil {
			b.Fatal(err)
		}
	})
	if len(out) < 500 {
		b.Fatalf("marshalled %d bytes", len(out))
	}
}
