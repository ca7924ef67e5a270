package idempotency_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/idempotency"
	"github.com/threefactor/framework/lib/topology"
)

type Order struct {
	ID    string `json:"id"`
	Total string `json:"total"`
}

func charge(ctx context.Context, o *Order) (string, error) { return "ch_" + o.ID, nil }

// app is the app's one topology declaration (in an app, its events package).
var app = topology.Topology{
	App:       "shop",
	Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
	Functions: []topology.Function{{Name: "processpayment", Tables: []string{"orders"}}},
	Routes: []topology.Route{{Name: "process-payment", Function: "processpayment", Match: topology.Match{
		Table: "orders", New: map[string]topology.Condition{"status": topology.Is("VALIDATED")}, Changed: []string{"paymentIntent"},
	}}},
}

// A function's main: the whole handler runs once per change event.
func ExampleMiddleware() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store := idempotency.New(dynamodb.NewFromConfig(awsCfg), os.Getenv(topology.TableEnv(topology.IdempotencyTable)))
	cfg, err := consumer.ConfigFromEnv(app, "processpayment", os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	cfg.SQS = sqs.NewFromConfig(awsCfg)
	cfg.Middleware = []consumer.Middleware{idempotency.Middleware(store, "")}
	c, err := consumer.New(func(ctx context.Context, ch change.Change[Order]) error {
		_, err := charge(ctx, ch.NewItem)
		return err
	}, cfg)
	if err != nil {
		log.Fatal(err)
	}
	_ = c // lambda.Start(c.Handle)
}

// One step of a handler, with its result kept for duplicates.
func ExampleStore_Do() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store := idempotency.New(dynamodb.NewFromConfig(awsCfg), os.Getenv(topology.TableEnv(topology.IdempotencyTable)))
	handle := func(ctx context.Context, ch change.Change[Order]) error {
		res, err := store.Do(ctx, "processpayment/charge", ch.ID, func(ctx context.Context) ([]byte, error) {
			id, err := charge(ctx, ch.NewItem)
			return []byte(id), err
		})
		if err != nil {
			return err // ErrInProgress too: retried later
		}
		fmt.Println("charge", string(res))
		return nil
	}
	_ = handle
}
