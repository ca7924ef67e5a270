package router_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/threefactor/framework/lib/router"
)

// printingBus stands in for *eventbridge.Client.
type printingBus struct{}

func (printingBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		fmt.Println(aws.ToString(e.EventBusName), aws.ToString(e.Source), aws.ToString(e.DetailType))
		fmt.Println(aws.ToString(e.Detail))
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String("1")})
	}
	return out, nil
}

func Example() {
	// An app's router Lambda is app.StartRouter(yourApp), which builds
	// the Config with router.ConfigFromEnv(topology, os.Getenv).
	r, err := router.New(router.Config{
		Client:  printingBus{},
		BusName: "fooddelivery-bus",
		Source:  "fooddelivery.changes",
		Tables:  map[string]string{"fooddelivery-orders": "orders"},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	resp, _ := r.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{
		EventID:        "c4ca4238",
		EventName:      "INSERT",
		EventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/fooddelivery-orders/stream/2026-11-23T00:00:00.000",
		Change: events.DynamoDBStreamRecord{
			Keys: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("ord-1")},
			NewImage: map[string]events.DynamoDBAttributeValue{
				"id":     events.NewStringAttribute("ord-1"),
				"status": events.NewStringAttribute("PLACED"),
			},
			SequenceNumber: "100",
		},
	}}})
	fmt.Println("failed:", len(resp.BatchItemFailures))
	// Output:
	// fooddelivery-bus fooddelivery.changes Change
	// {"id":"c4ca4238","table":"orders","operation":"INSERT","keys":{"id":"ord-1"},"new":{"id":"ord-1","status":"PLACED"},"changed":["id","status"],"sequenceNumber":"100","approximateCreationTime":"0001-01-01T00:00:00Z"}
	// failed: 0
}
