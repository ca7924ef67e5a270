package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
)

// A WebSocket API Lambda: the app brings its schema, its topics and an
// OnConnect that checks the connection_init payload.
func ExampleNewHandler() {
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
	schema := graphql.MustParseSchema(sdl, &root{})
	h, err := realtime.NewHandler(realtime.Config{
		Schema: schema,
		Store:  st,
		Management: apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
		}),
		Topics: realtime.Topics{
			Subscription: func(field string, args map[string]any) (string, error) {
				id, _ := args["id"].(string)
				return field + ":" + id, nil
			},
			Change: func(e change.Event) []string {
				var k struct{ ID string }
				_ = json.Unmarshal(e.Keys, &k)
				return []string{"itemChanged:" + k.ID}
			},
		},
		OnConnect: func(ctx context.Context, payload json.RawMessage) (realtime.Accept, error) {
			var p struct{ Token string }
			if json.Unmarshal(payload, &p) != nil || p.Token == "" {
				return realtime.Accept{}, errors.New("no token") // closes with 4403
			}
			return realtime.Accept{Session: json.RawMessage(`{"user":"from the token"}`)}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h.Handle)
}
