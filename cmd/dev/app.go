package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/assigndriver"
	graphqlfn "github.com/threefactor/framework/functions/graphql"
	"github.com/threefactor/framework/functions/processpayment"
	"github.com/threefactor/framework/functions/restaurantapproval"
	"github.com/threefactor/framework/functions/validateorder"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/devruntime"
)

func init() { register("app", wireApp) }

// appFunctions are the food-delivery functions, each built from its
// environment exactly as its Lambda main builds it.
var appFunctions = map[string]func(aws.Config, func(string) string, *slog.Logger) (*consumer.Consumer, error){
	appevents.ValidateOrder:      validateorder.NewConsumer,
	appevents.ProcessPayment:     processpayment.NewConsumer,
	appevents.RestaurantApproval: restaurantapproval.NewConsumer,
	appevents.AssignDriver:       assigndriver.NewConsumer,
}

// passThrough are settings a developer gives the functions through the
// dev process's environment (on AWS they are the function's own).
var passThrough = []string{processpayment.EnvFailureRate}

// wireApp seeds the restaurants, serves the GraphQL API at /graphql and
// runs each function behind the queues of its routes.
func wireApp(ctx context.Context, rt *devruntime.Runtime, cfg aws.Config) error {
	log := rt.Logger()
	env := func(function string) func(string) string {
		e := rt.Env(function)
		for _, k := range passThrough {
			if v, ok := os.LookupEnv(k); ok {
				e[k] = v
			}
		}
		return func(k string) string { return e[k] }
	}

	gqlEnv := env(graphqlfn.Name)
	t, err := orders.TablesFromEnv(gqlEnv)
	if err != nil {
		return err
	}
	n, err := orders.Seed(ctx, orders.NewStore(dynamodb.NewFromConfig(cfg), t), orders.SeedRestaurants)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("seeded restaurants", "count", n)
	}
	h, err := graphqlfn.NewHandler(cfg, gqlEnv, log, graphqlfn.Options{GraphiQL: true, SubscriptionsURL: "/graphql"})
	if err != nil {
		return err
	}
	rt.Handle("/graphql", h)

	for _, f := range rt.Topology().Functions {
		build, ok := appFunctions[f.Name]
		if !ok {
			return fmt.Errorf("function %s is declared in events/ but not built here", f.Name)
		}
		c, err := build(cfg, env(f.Name), log)
		if err != nil {
			return err
		}
		for _, r := range rt.Resources().RoutesOf(f.Name) {
			rt.QueueConsumer(r.Name, c.Handle)
		}
	}
	return nil
}
