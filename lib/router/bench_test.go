package router

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/capacity"
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

// recordCPU is the CPU time the router spends per record of batch,
// publishing to a bus that answers at once.
func recordCPU(b *testing.B, r *Router, batch events.DynamoDBEvent) time.Duration {
	fast := *r
	fast.cfg.Client = heldBus{}
	const rounds = 20
	start := benchfig.CPUTime()
	for range rounds {
		if _, err := fast.Handle(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	return (benchfig.CPUTime() - start) / time.Duration(rounds*len(batch.Records))
}

// heldBus answers every PutEvents call after Hold, as a bus whose calls
// take that long would: each entry succeeds.
type heldBus struct{ hold time.Duration }

func (b heldBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	t := time.NewTimer(b.hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	out := &eventbridge.PutEventsOutput{Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}
	for i := range out.Entries {
		out.Entries[i].EventId = aws.String("e")
	}
	return out, nil
}

// shardBatchSize is the router's stream mapping batch size on AWS
// (infra/stack RouterBatchSize).
const shardBatchSize = 100

// BenchmarkShardThroughput is what one stream shard's router carries
// when every PutEvents call takes 20 ms: batches of 100 records handled
// one after another, as a stream mapping with a parallelization factor of
// 1 delivers them. router_shard_events_per_s publishes with the default
// Concurrency; its baseline publishes one call after another
// (Concurrency 1), as the router did before. Both run in the same loop.
// model_router_shard_* are the capacity model's predictions of the two
// (capacity.RouterShard), from the CPU per record measured in the same run.
func BenchmarkShardThroughput(b *testing.B) {
	const hold = 20 * time.Millisecond
	rec := benchRecord(b)
	batch := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, shardBatchSize)}
	for i := range batch.Records {
		r := rec
		r.EventID = fmt.Sprintf("ev-%03d", i)
		batch.Records[i] = r
	}
	router := func(concurrency int) *Router {
		r, err := New(Config{
			Client: heldBus{hold}, BusName: "fooddelivery-bus", Source: "fooddelivery.changes", Concurrency: concurrency,
			Tables: map[string]string{"fooddelivery-orders": "orders"}, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	concurrent, sequential := router(0), router(1)
	ctx := context.Background()
	handle := func(r *Router) time.Duration {
		start := time.Now()
		resp, err := r.Handle(ctx, batch)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("%+v, %v", resp, err)
		}
		return time.Since(start)
	}
	var conc, seq time.Duration
	for b.Loop() {
		conc += handle(concurrent)
		seq += handle(sequential)
	}
	n := float64(b.N * shardBatchSize)
	perS, basePerS := n/conc.Seconds(), n/seq.Seconds()
	// The capacity model's prediction for the same shard, from this
	// machine's CPU per record (measured here, single-threaded) and the
	// held call.
	cpu := recordCPU(b, concurrent, batch)
	benchfig.Record("model_router_shard_events_per_s", capacity.RouterShard(shardBatchSize, DefaultConcurrency, hold, cpu), "events/s")
	benchfig.Record("model_router_shard_baseline_sequential_events_per_s", capacity.RouterShard(shardBatchSize, 1, hold, cpu), "events/s")
	b.ReportMetric(perS, "events/s")
	b.ReportMetric(basePerS, "baseline-events/s")
	benchfig.Record("router_shard_events_per_s", perS, "events/s")
	benchfig.Record("router_shard_baseline_sequential_events_per_s", basePerS, "events/s")
}
