package dlq_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/topology"
)

// After a fix, list a route's dead letters and send them back to its
// queue (what `threefactor dlq list` and `dlq redrive --all` do). Queues
// maps each route to its queue URLs: dlq.LocalQueues finds them by the
// dev runtime's names, dlq.FromResources from what provision created,
// or a stack's Queue<Route> and DLQ<Route> outputs.
func Example() {
	ctx := context.Background()
	var topo topology.Topology // the app's: app.App.Topology()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		panic(err)
	}
	api := sqs.NewFromConfig(cfg)
	queues, err := dlq.LocalQueues(ctx, api, topo)
	if err != nil {
		panic(err)
	}
	c, err := dlq.New(dlq.Config{SQS: api, Topology: topo, Queues: queues})
	if err != nil {
		panic(err)
	}
	msgs, err := c.List(ctx, "assign-driver", dlq.DefaultListLimit)
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fmt.Println(m.EventID, m.Item, m.Attempts, m.Reason)
	}
	res, err := c.Redrive(ctx, "assign-driver", dlq.Selection{All: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("redrove", res.Count, "by", res.Method)
}
