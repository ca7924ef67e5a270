package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
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

// benchBatch is the default batch size of a route (topology.Route): the
// figures are per message of a full batch, as Lambda delivers them.
const benchBatch = 10

const benchQueueARN = "arn:aws:sqs:us-east-1:123456789012:fooddelivery-process-payment"

// benchBody is an SQS message body as an EventBridge rule delivers an
// order change: envelope and detail, old and new images.
func benchBody(b *testing.B) string {
	raw, err := os.ReadFile("testdata/order-modify-body.json")
	if err != nil {
		b.Fatal(err)
	}
	return string(bytes.TrimSpace(raw))
}

// BenchmarkConsume is the framework's own cost per message on the
// consumer side, without AWS calls: SQS message -> route -> envelope ->
// change event -> images decoded into the handler's type -> handler call,
// including the consumer's JSON log line (through the correlation
// handler, as in a Lambda). Its baseline is the floor any such pipeline
// pays: one json.Unmarshal of the same SQS body into the same order type.
//
// The two alternate batch by batch in one loop, each timed on its own, so
// that both see the same machine: on a shared machine the load changes
// from one second to the next, and two benchmarks run one after the other
// would compare different machines. They are timed in CPU time
// (benchfig.CPUTime), garbage collection included, so that other
// processes' load does not stretch them.
func BenchmarkConsume(b *testing.B) {
	body := benchBody(b)
	var seen int
	c, err := New(func(ctx context.Context, ch change.Change[benchOrder]) error {
		if ch.NewItem.PaymentIntent != "" && ch.OldItem.Version == 2 {
			seen++
		}
		return nil
	}, Config{Function: "processpayment", Routes: []Route{{Name: "process-payment", QueueARN: benchQueueARN}},
		Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(io.Discard, nil)))})
	if err != nil {
		b.Fatal(err)
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, benchBatch)}
	for i := range ev.Records {
		ev.Records[i] = events.SQSMessage{
			MessageId: fmt.Sprintf("8f3c1a52-0d6e-4b7a-9c1e-%012d", i), ReceiptHandle: "rh", Body: body,
			Attributes:  map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1732406460000"},
			EventSource: "aws:sqs", EventSourceARN: benchQueueARN, AWSRegion: "us-east-1",
		}
	}
	type envelope struct {
		Detail struct {
			ID  string     `json:"id"`
			Old benchOrder `json:"old"`
			New benchOrder `json:"new"`
		} `json:"detail"`
	}
	var env envelope
	raw := []byte(body)
	ctx := context.Background()
	var consume, baseline time.Duration
	for b.Loop() {
		start := benchfig.CPUTime()
		resp, _ := c.Handle(ctx, ev)
		consume += benchfig.CPUTime() - start
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("messages failed")
		}
		start = benchfig.CPUTime()
		for range ev.Records {
			env = envelope{}
			if err := json.Unmarshal(raw, &env); err != nil {
				b.Fatal(err)
			}
		}
		baseline += benchfig.CPUTime() - start
	}
	if seen == 0 || env.Detail.New.PaymentIntent == "" {
		b.Fatal("nothing decoded")
	}
	allocs := testing.AllocsPerRun(20, func() { c.Handle(ctx, ev) }) / benchBatch
	baseAllocs := testing.AllocsPerRun(20, func() { json.Unmarshal(raw, &env) })
	b.ReportMetric(allocs, "allocs/message")
	b.ReportMetric(baseAllocs, "baseline-allocs/message")
	n := float64(b.N * benchBatch)
	perMsg, perBase := float64(consume.Nanoseconds())/n, float64(baseline.Nanoseconds())/n
	b.ReportMetric(perMsg, "ns/message")
	b.ReportMetric(perBase, "baseline-ns/message")
	b.ReportMetric(perMsg/perBase, "x-baseline")
	benchfig.Record("consume_ns_per_message", perMsg, "ns")
	benchfig.Record("consume_baseline_ns_per_message", perBase, "ns")
}
