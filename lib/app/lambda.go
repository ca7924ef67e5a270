package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/topology"
)

// The Lambda mains. Each reads its configuration from the process
// environment once (the function's environment on AWS), builds its
// component with the same builder the dev runtime uses, and hands the
// handler to the Lambda runtime. A configuration error ends the process
// at start with a message naming what is missing, which Lambda reports as
// an init error.

// StartFunction runs function name of a behind its SQS event source
// mappings.
func StartFunction(a App, name string) {
	start(name, func(ctx context.Context, env *Env) (any, error) {
		c, err := NewConsumer(ctx, a, name, env)
		if err != nil {
			return nil, err
		}
		return c.Handle, nil
	})
}

// StartEventLog runs the framework's eventlog function of a behind its
// route's queue: every change event, written to the event log.
func StartEventLog(a App) {
	start(topology.EventLogFunction, func(ctx context.Context, env *Env) (any, error) {
		f, err := NewEventLogFeed(ctx, a, env)
		if err != nil {
			return nil, err
		}
		return f.Handle, nil
	})
}

// StartRouter runs the stream router of a.
func StartRouter(a App) {
	start(topology.RouterFunction, func(ctx context.Context, env *Env) (any, error) {
		r, err := NewRouter(ctx, a, env)
		if err != nil {
			return nil, err
		}
		return r.Handle, nil
	})
}

// StartFanout runs the realtime fan-out of a.
func StartFanout(a App) {
	start(topology.FanOutFunction, func(ctx context.Context, env *Env) (any, error) {
		f, err := NewFanout(ctx, a, env, nil)
		if err != nil {
			return nil, err
		}
		return f.Handle, nil
	})
}

// StartPushWorker runs the push worker of a, behind the push queue's
// event source mapping.
func StartPushWorker(a App) {
	start(topology.PushFunction, func(ctx context.Context, env *Env) (any, error) {
		f, err := NewPushWorker(ctx, a, env, nil)
		if err != nil {
			return nil, err
		}
		return f.HandlePushes, nil
	})
}

// StartRealtime runs the WebSocket API handler of a: it takes the
// WebSocket API's events and the expiry schedules' (realtime.Handler.Invoke).
func StartRealtime(a App) {
	start(topology.RealtimeFunction, func(ctx context.Context, env *Env) (any, error) {
		h, err := NewRealtime(ctx, a, env, RealtimeOptions{})
		if err != nil {
			return nil, err
		}
		return h.Invoke, nil
	})
}

// StartGraphQL runs the GraphQL HTTP API of a behind API Gateway's HTTP
// API (payload format 2.0), and on the dev stage the GraphiQL page
// (NewGraphQLFunction).
func StartGraphQL(a App) {
	start(topology.GraphQLFunction, func(ctx context.Context, env *Env) (any, error) {
		return NewGraphQLFunction(ctx, a, env, GraphiQLOptions{})
	})
}

func start(name string, build func(context.Context, *Env) (any, error)) {
	log := correlation.Logger()
	h, err := buildFromProcess(log, build)
	if err != nil {
		log.Error("init failed", "function", name, "error", err.Error())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

func buildFromProcess(log *slog.Logger, build func(context.Context, *Env) (any, error)) (any, error) {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	// The builders name their component in their errors.
	return build(ctx, NewEnv(cfg, os.Getenv, log))
}
