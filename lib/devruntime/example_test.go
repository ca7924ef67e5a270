package devruntime_test

import (
	"context"
	"log"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/topology"
)

// A whole app on one endpoint: a stream reader, a queue consumer and an
// HTTP handler, until Ctrl-C.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx) // AWS_ENDPOINT_URL points at the emulator
	if err != nil {
		log.Fatal(err)
	}
	topo := topology.Topology{
		App:       "shop",
		Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}}},
		Routes: []topology.Route{{Name: "paid", Function: "ship", Match: topology.Match{
			Table: "orders", New: map[string]topology.Condition{"status": topology.Is("PAID")},
		}}},
	}
	rt, err := devruntime.New(devruntime.Config{AWS: cfg, Topology: topo})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := rt.Provision(ctx); err != nil {
		log.Fatal(err)
	}
	rt.StreamReader("audit", "orders", func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			log.Println(r.EventName, r.Change.Keys["id"].String())
		}
		return events.DynamoDBEventResponse{}, nil
	})
	rt.QueueConsumer("paid", func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil // ship each order
	})
	rt.Handle("/hello", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) }))
	if err := rt.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
