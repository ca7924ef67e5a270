package consumer

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
)

// benchOrder is what a payment function decodes its orders into.
type benchOrder struct {
	ID            string      `json:"id"`
	CustomerID    string      `json:"customerId"`
	RestaurantID  string      `json:"restaurantId"`
	Status        string      `json:"status"`
	Total         json.Number `json:"total"`
	PaymentIntent string      `json:"paymentIntent"`
	Items         []struct {
		SKU   string      `json:"sku"`
		Qty   int         `json:"qty"`
		Price json.Number `json:"price"`
	} `json:"items"`
	Version int `json:"version"`
}

const envelopePrefix = `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Change","source":"fooddelivery.changes","time":"2026-11-23T10:01:00Z","region":"us-east-1","resources":[],"detail":`

func benchRecord(b *testing.B) events.DynamoDBEventRecord {
	raw, err := os.ReadFile("testdata/order-modify.json")
	if err != nil {
		b.Fatal(err)
	}
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.Fatal(err)
	}
	return rec
}

// perEvent runs f b.N times and returns ns and allocations per run.
func perEvent(b *testing.B, f func()) (ns, allocs float64) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	return float64(b.Elapsed().Nanoseconds()) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n)
}

// BenchmarkDispatch is the framework's own cost per event, without AWS
// calls: stream record -> change event -> EventBridge detail -> SQS body
// (wrapped as EventBridge does) -> consumer -> typed handler, including
// the consumer's JSON log line.
func BenchmarkDispatch(b *testing.B) {
	rec := benchRecord(b)
	var seen int
	c, err := New(func(ctx context.Context, ch change.Change[benchOrder]) error {
		if ch.NewItem.PaymentIntent != "" {
			seen++
		}
		return nil
	}, Config{Function: "processpayment", Route: "process-payment", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var body []byte
	msg := events.SQSMessage{MessageId: "m1", Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
	ns, allocs := perEvent(b, func() {
		ev, err := change.FromDynamoDB(rec, "orders")
		if err != nil {
			b.Fatal(err)
		}
		detail, err := ev.Detail()
		if err != nil {
			b.Fatal(err)
		}
		body = append(append(append(body[:0], envelopePrefix...), detail...), '}')
		msg.Body = string(body)
		resp, _ := c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}})
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("dispatch failed")
		}
	})
	if seen == 0 {
		b.Fatal("handler never saw the change")
	}
	benchfig.Record("dispatch_ns_per_event", ns, "ns")
	benchfig.Record("dispatch_allocs_per_event", allocs, "allocs")
}

// BenchmarkDispatchBaseline is the floor any such pipeline pays: one
// json.Unmarshal of the same SQS body into the same order type.
func BenchmarkDispatchBaseline(b *testing.B) {
	rec := benchRecord(b)
	ev, err := change.FromDynamoDB(rec, "orders")
	if err != nil {
		b.Fatal(err)
	}
	detail, _ := ev.Detail()
	body := []byte(envelopePrefix + string(detail) + "}")
	var env struct {
		Detail struct {
			ID  string     `json:"id"`
			Old benchOrder `json:"old"`
			New benchOrder `json:"new"`
		} `json:"detail"`
	}
	ns, allocs := perEvent(b, func() {
		env = struct {
			Detail struct {
				ID  string     `json:"id"`
				Old benchOrder `json:"old"`
				New benchOrder `json:"new"`
			} `json:"detail"`
		}{}
		if err := json.Unmarshal(body, &env); err != nil {
			b.Fatal(err)
		}
	})
	if env.Detail.New.PaymentIntent == "" {
		b.Fatal("baseline decoded nothing")
	}
	benchfig.Record("dispatch_baseline_ns_per_event", ns, "ns")
	benchfig.Record("dispatch_baseline_allocs_per_event", allocs, "allocs")
}
