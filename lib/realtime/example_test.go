package realtime_test

import (
	"context"
	"encoding/json"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/expiry"
	"github.com/threefactor/framework/lib/realtime/store"
)

// A WebSocket API Lambda: the app brings its schema and its topics; the
// token in connection_init is verified against the issuer (AUTH_ISSUER,
// AUTH_AUDIENCE...), and each connection is closed when its token expires
// by an EventBridge Scheduler schedule (package expiry). Invoke takes both
// the WebSocket API's events and the schedule's.
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
	verifier, err := identity.VerifierFromEnv(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	closer, err := expiry.FromEnv(cfg, os.Getenv)
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
		OnConnect: realtime.Authenticate(verifier), // no or a bad token: close 4403
		Expiry:    closer,
	})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h.Invoke)
}
