package devapp

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/console"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// serveConsole serves the local console at console.Path: the event log
// (o.EventLog, else the endpoint's eventlog table) and the routes'
// dead-letter queues. It stops its live streams when ctx ends.
func serveConsole(ctx context.Context, rt *devruntime.Runtime, a app.App, o Options) error {
	topo := a.Topology()
	log := o.EventLog
	if log == nil {
		store, err := eventlog.NewDynamoStore(dynamodb.NewFromConfig(rt.AWS()), eventlog.DynamoConfig{
			Table: rt.Resources().Tables[topology.EventLogTable].Name, Topology: topo, Logger: rt.Logger(),
		})
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		log = store
	}
	dl, err := dlq.New(dlq.Config{
		SQS: sqs.NewFromConfig(rt.AWS()), Topology: topo, Queues: dlq.FromResources(rt.Resources()), Log: log, Logger: rt.Logger(),
	})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	c, err := console.New(console.Config{Log: log, DeadLetters: dl, Topology: topo, Logger: rt.Logger()})
	if err != nil {
		return err
	}
	rt.Handle(console.Path, c)
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	return nil
}
