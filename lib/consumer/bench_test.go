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

// perMessage runs f (which handles benchBatch messages) b.N times and
// records ns and allocations per message.
func perMessage(b *testing.B, name string, f func()) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(n*benchBatch)
	b.ReportMetric(ns, "ns/message")
	benchfig.Record(name, ns, "ns")
}

// BenchmarkConsume is the framework's own cost per message on the
// consumer side, without AWS calls: SQS message -> route -> envelope ->
// change event -> images decoded into the handler's type -> handler call,
// including the consumer's JSON log line (through the correlation
// handler, as in a Lambda).
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
	ctx := context.Background()
	perMessage(b, "consume_ns_per_message", func() {
		resp, _ := c.Handle(ctx, ev)
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("messages failed")
		}
	})
	if seen == 0 {
		b.Fatal("handler never saw the change")
	}
}

// BenchmarkConsumeBaseline is the floor any such pipeline pays: one
// json.Unmarshal of the same SQS body into the same order type.
func BenchmarkConsumeBaseline(b *testing.B) {
	body := []byte(benchBody(b))
	type envelope struct {
		Detail struct {
			ID  string     `json:"id"`
			Old benchOrder `json:"old"`
			New benchOrder `json:"new"`
		} `json:"detail"`
	}
	var env envelope
	perMessage(b, "consume_baseline_ns_per_message", func() {
		for range benchBatch {
			env = envelope{}
			if err := json.Unmarshal(body, &env); err != nil {
				b.Fatal(err)
			}
		}
	})
	if env.Detail.New.PaymentIntent == "" {
		b.Fatal("baseline decoded nothing")
	}
}
