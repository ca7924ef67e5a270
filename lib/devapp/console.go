package devapp

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/console"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/dlq"
)

// serveConsole serves the local console at console.Path: the event log
// the functions write to (env's: Options.EventLog, else the endpoint's
// eventlog table; none when the app's log is disabled) and the routes'
// dead-letter queues. It stops its live streams when ctx ends. The
// console is the dev runtime's only: nothing deploys it.
func serveConsole(ctx context.Context, rt *devruntime.Runtime, a app.App, env *app.Env) error {
	topo := a.Topology()
	log, err := env.Log(a)
	if err != nil {
		return fmt.Errorf("console: %w", err)
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
