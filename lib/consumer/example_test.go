package consumer_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
)

type Order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func Example() {
	approve := func(ctx context.Context, c change.Change[Order]) error {
		if c.NewItem.Status != "PAID" {
			// No retry can help: straight to the dead-letter queue.
			return errs.Newf(errs.FailedPrecondition, "order %s is %s", c.NewItem.ID, c.NewItem.Status)
		}
		fmt.Println("approving", c.NewItem.ID, "for request", c.CorrelationID)
		return nil
	}
	c, err := consumer.New(approve, consumer.Config{
		Function: "restaurantapproval",
		Logger:   slog.New(slog.DiscardHandler),
		// Deployed, app.NewConsumer builds the Config with consumer.ConfigFromEnv
		// (every route's queue and dead-letter queue) and an SQS client.
	})
	if err != nil {
		panic(err)
	}
	// In a Lambda main: lambda.Start(c.Handle).
	resp, _ := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "m1",
		Body: `{"id":"eb1","detail-type":"Change","source":"fooddelivery.changes","detail":{"id":"ev1","table":"orders",` +
			`"operation":"MODIFY","keys":{"id":"ord-1"},"new":{"id":"ord-1","status":"PAID"},"changed":["status"],` +
			`"sequenceNumber":"1","approximateCreationTime":"2026-11-23T10:00:00Z","correlationId":"req-7"}}`,
	}}})
	fmt.Println("failed:", len(resp.BatchItemFailures))
	// Output:
	// approving ord-1 for request req-7
	// failed: 0
}

func ExampleMiddleware() {
	timing := func(next consumer.EventHandler) consumer.EventHandler {
		return func(ctx context.Context, e change.Event) error {
			m, _ := consumer.MessageFrom(ctx)
			fmt.Println("start", m.Function, e.ID, "attempt", m.Attempt)
			return next(ctx, e)
		}
	}
	c, _ := consumer.NewEvent(func(ctx context.Context, e change.Event) error {
		fmt.Println("handle", e.Table, e.Operation)
		return nil
	}, consumer.Config{Function: "audit", Middleware: []consumer.Middleware{timing}, Logger: slog.New(slog.DiscardHandler)})
	_, _ = c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
		MessageId:  "m1",
		Attributes: map[string]string{"ApproximateReceiveCount": "3"},
		Body: `{"id":"eb1","detail-type":"Change","source":"s","detail":{"id":"ev1","table":"orders","operation":"REMOVE",` +
			`"keys":{"id":"ord-1"},"sequenceNumber":"1","approximateCreationTime":"2026-11-23T10:00:00Z"}}`,
	}}})
	// Output:
	// start audit ev1 attempt 3
	// handle orders REMOVE
}
