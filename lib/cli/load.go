package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/load"
)

// EnvLoadToken is the bearer token `threefactor load` sends when --token
// is not given.
const EnvLoadToken = "THREEFACTOR_TOKEN"

func init() {
	register(&command{
		name:     "load",
		synopsis: "--rate N --duration D [--subscribers M] [--url URL] [--ws-url URL] [--token TOKEN] [--dlq-urls NAME=URL,...] [--timeout 2m] [--state-dir .dev] [--json]",
		summary:  "drive a deployment (or make dev) with the reference workflow; report latencies, errors and dead letters",
		help: `
Starts --rate orders a second for --duration. Each order opens --subscribers
WebSocket connections (graphql-transport-ws), places the order (placeOrder),
subscribes to orderUpdated, pays when it is VALIDATED (payOrder) and waits
for DRIVER_ASSIGNED. It reports placeOrder's p50/p99, the push latency from
sending payOrder to each subscriber's frame, the time from placeOrder to
DRIVER_ASSIGNED, the errors by code, and each dead-letter queue's depth
before and after the run.

Against make dev (the default URL), tokens are minted by the issuer in
--state-dir and the dead-letter queues are read on the local emulator:

  threefactor load --rate 5 --duration 30s

Against a deployment, give its URLs (the stack's GraphQLUrl and WebSocketUrl
outputs), a user's token (--token or THREEFACTOR_TOKEN) and its dead-letter
queues (the DeadLetterQueueUrls output; AWS credentials from the usual
chain). docs/scale.md says what a run costs:

  threefactor load --rate 100 --duration 5m --url https://…/graphql --ws-url wss://…/prod \
    --dlq-urls "$(aws cloudformation describe-stacks --stack-name fooddelivery-dev \
      --query "Stacks[0].Outputs[?OutputKey=='DeadLetterQueueUrls'].OutputValue" --output text)"`,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			rate := fs.Float64("rate", 0, "orders started a second")
			duration := fs.Duration("duration", 0, "how long to start orders")
			subscribers := fs.Int("subscribers", 1, "WebSocket connections watching each order, the customer's included")
			gqlURL := fs.String("url", "http://127.0.0.1:8080/graphql", "the GraphQL endpoint")
			wsURL := fs.String("ws-url", "", "the WebSocket endpoint (default: --url with a ws scheme)")
			token := fs.String("token", "", "the bearer token to send (default $"+EnvLoadToken+"; against make dev, minted per customer)")
			dlqs := fs.String("dlq-urls", "", "the dead-letter queues to read, NAME=URL,... (default: the app's, on the local emulator)")
			timeout := fs.Duration("timeout", 2*time.Minute, "how long one order may take")
			stateDir := fs.String("state-dir", ".dev", "make dev's state directory: its token issuer and emulator")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, _ []string) error {
				if *rate <= 0 || *duration <= 0 {
					return usagef("--rate and --duration are required and positive")
				}
				u, err := url.Parse(*gqlURL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usagef("--url %q: want http(s)://host/graphql", *gqlURL)
				}
				tok := *token
				if tok == "" {
					tok = os.Getenv(EnvLoadToken)
				}
				tokens := func(int) (string, error) { return tok, nil }
				if tok == "" {
					if !loopback(u.Hostname()) {
						return usagef("against %s, give a user's token: --token or %s", u.Host, EnvLoadToken)
					}
					// One customer per order, as many customers would.
					tokens = func(i int) (string, error) {
						return devissuer.Mint(*stateDir, devissuer.Options{App: e.cfg.App.Name, Subject: fmt.Sprintf("load-%d", i)})
					}
				}
				queues, client, err := deadLetters(ctx, *dlqs, *stateDir, e)
				if err != nil {
					return err
				}
				before := depths(ctx, client, queues, e)
				rep, err := load.Run(ctx, load.Config{
					GraphQLURL: *gqlURL, WebSocketURL: *wsURL, Token: tokens,
					Rate: *rate, Duration: *duration, Subscribers: *subscribers, Timeout: *timeout,
				})
				if err != nil {
					return err
				}
				if client != nil {
					rep.DeadLettersBefore, rep.DeadLetters = before, depths(ctx, client, queues, e)
				}
				if *asJSON {
					enc := json.NewEncoder(e.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				rep.Print(e.stdout)
				return nil
			}
		},
	})
}

func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// deadLetters says which dead-letter queues to read and with which
// client: the given ones with the default AWS configuration; else the
// app's own on the emulator AWS_ENDPOINT_URL names, or the one make dev
// recorded in stateDir; else none.
func deadLetters(ctx context.Context, given, stateDir string, e *env) ([]load.DeadLetterQueue, *sqs.Client, error) {
	if given != "" {
		qs, err := load.ParseDeadLetterQueues(given)
		if err != nil {
			return nil, nil, usagef("--dlq-urls: %v", err)
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("aws config: %w", err)
		}
		return qs, sqs.NewFromConfig(cfg), nil
	}
	qs := load.LocalDeadLetterQueues(e.cfg.App.Topology())
	var cfg aws.Config
	var err error
	switch ep := os.Getenv("AWS_ENDPOINT_URL"); {
	case ep != "":
		cfg, err = config.LoadDefaultConfig(ctx)
		if err == nil && cfg.Region == "" {
			cfg.Region = emulator.Region
		}
	default:
		b, rerr := os.ReadFile(filepath.Join(stateDir, "moto.endpoint"))
		if rerr != nil {
			fmt.Fprintf(e.stderr, "threefactor load: no emulator recorded in %s and no --dlq-urls: dead-letter queues not read\n", stateDir)
			return nil, nil, nil
		}
		cfg, err = emulator.Config(ctx, strings.TrimSpace(string(b)))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("aws config: %w", err)
	}
	return qs, sqs.NewFromConfig(cfg), nil
}

func depths(ctx context.Context, client *sqs.Client, qs []load.DeadLetterQueue, e *env) map[string]int {
	if client == nil {
		return nil
	}
	d, err := load.DLQDepths(ctx, client, qs)
	if err != nil {
		fmt.Fprintf(e.stderr, "threefactor load: %v\n", err)
	}
	return d
}
