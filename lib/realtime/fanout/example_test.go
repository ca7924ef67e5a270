package fanout_test

import (
	"context"
	"encoding/json"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/realtime/fanout"
	"github.com/threefactor/framework/lib/realtime/store"
)

var (
	appSDL      string
	appResolver any
)

// A stream fan-out Lambda over the app's schema and topics.
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	st, err := store.New(dynamodb.NewFromConfig(cfg), store.Config{
		ConnectionsTable: "app-connections", SubscriptionsTable: "app-subscriptions",
	})
	if err != nil {
		log.Fatal(err)
	}
	f, err := fanout.New(fanout.Config{
		// The resolver's subscription fields read realtime.ChangeFrom(ctx).
		Schema: graphql.MustParseSchema(appSDL, appResolver),
		Store:  st,
		Management: apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
		}),
		Topics: func(e change.Event) []string {
			var k struct{ ID string }
			_ = json.Unmarshal(e.Keys, &k)
			return []string{"item:" + k.ID}
		},
		Decode: func(rec events.DynamoDBEventRecord) (change.Event, error) {
			return change.FromDynamoDB(rec, "items")
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(f.Handle)
}
