package idempotency_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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

// The whole handler runs once per change event.
func ExampleMiddleware() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store := idempotency.New(dynamodb.NewFromConfig(awsCfg), os.Getenv(topology.TableEnv(topology.IdempotencyTable)))
	cfg := consumer.Config{Function: "processpayment"}
	cfg.Middleware = []consumer.Middleware{idempotency.Middleware(store, "")}
	c, err := consumer.New(func(ctx context.Context, ch change.Change[Order]) error {
		_, err := charge(ctx, ch.NewItem)
		return err
	}, cfg)
	if err != nil {
		log.Fatal(err)
	}
	_ = c // behind an SQS event source mapping: lambda.Start(c.Handle)
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
