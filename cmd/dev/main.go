// Command dev runs the food-delivery app locally: it makes sure an AWS API
// emulator runs (or uses AWS_ENDPOINT_URL), provisions it from the app's
// topology, routes every table stream to the event bus, and runs the app's
// functions, GraphQL API and realtime API in one process.
//
//	go run ./cmd/dev                 # serve on DEV_ADDR or 127.0.0.1:8080
//	go run ./cmd/dev -stop-emulator  # stop the local emulator (its data is in memory: gone)
//	go run ./cmd/dev -wipe           # stop it and delete the state directory
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/router"
)

// wiring connects one part of the app (GraphQL and functions, realtime) to
// the runtime: it registers handlers with rt once resources exist.
type wiring struct {
	name string
	fn   func(ctx context.Context, rt *devruntime.Runtime, aws aws.Config) error
}

// wirings are registered by the other files of this package in init().
var wirings []wiring

// register adds a wiring; call it from init().
func register(name string, fn func(ctx context.Context, rt *devruntime.Runtime, aws aws.Config) error) {
	wirings = append(wirings, wiring{name: name, fn: fn})
}

func main() {
	addr := flag.String("addr", envOr("DEV_ADDR", "127.0.0.1:8080"), "HTTP listen address (env DEV_ADDR)")
	stateDir := flag.String("state-dir", ".dev", "directory for the local emulator's pid, endpoint and log")
	stopEmulator := flag.Bool("stop-emulator", false, "stop the local emulator recorded in the state dir and exit (its data is in memory and is lost)")
	wipe := flag.Bool("wipe", false, "stop the local emulator and delete the state dir: all local data is lost")
	flag.Parse()

	log := correlation.Logger()
	if *stopEmulator || *wipe {
		if err := emulator.StopRecorded(*stateDir); err != nil {
			fatal(log, "stop emulator", err)
		}
		fmt.Printf("stopped the local emulator recorded in %s (if one ran)\n", *stateDir)
		if *wipe {
			if err := os.RemoveAll(*stateDir); err != nil {
				fatal(log, "wipe state dir", err)
			}
			fmt.Printf("deleted %s\n", *stateDir)
		}
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *addr, *stateDir); err != nil {
		fatal(log, "dev", err)
	}
}

func run(ctx context.Context, log *slog.Logger, addr, stateDir string) error {
	userEndpoint := os.Getenv("AWS_ENDPOINT_URL") != ""
	cfg, endpoint, err := awsConfig(ctx, stateDir)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("%-10s %s", "Emulator", endpoint)
	if !userEndpoint {
		abs, _ := filepath.Abs(stateDir)
		note += fmt.Sprintf("  (moto; survives restarts: make dev-stop to stop it, make dev-clean to wipe; log %s)", filepath.Join(abs, "moto.log"))
	} else {
		note += "  (AWS_ENDPOINT_URL)"
	}
	rt, err := devruntime.New(devruntime.Config{AWS: cfg, Topology: appevents.Topology, Addr: addr, Logger: log, Notes: []string{note}})
	if err != nil {
		return err
	}
	if _, err := rt.Provision(ctx); err != nil {
		return err
	}
	if err := routeStreams(rt, cfg, log); err != nil {
		return err
	}
	for _, w := range wirings {
		if err := w.fn(ctx, rt, cfg); err != nil {
			return fmt.Errorf("wire %s: %w", w.name, err)
		}
	}
	return rt.Run(ctx)
}

// awsConfig is the user's endpoint when AWS_ENDPOINT_URL is set (LocalStack,
// a moto of their own, or AWS itself through the default credential
// chain), else the long-lived local moto recorded in stateDir, started when
// none answers.
func awsConfig(ctx context.Context, stateDir string) (aws.Config, string, error) {
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return cfg, "", fmt.Errorf("aws config: %w", err)
		}
		if cfg.Region == "" {
			cfg.Region = emulator.Region
		}
		return cfg, ep, nil
	}
	ep, started, err := emulator.Ensure(ctx, stateDir)
	if err != nil {
		return aws.Config{}, "", err
	}
	if started {
		fmt.Printf("started the local emulator at %s\n", ep)
	}
	// Code that loads the default config, as Lambda mains do, reaches it too.
	emulator.SetEnv(ep)
	cfg, err := emulator.Config(ctx, ep)
	return cfg, ep, err
}

// routeStreams registers the stream router, as on AWS, as the reader of
// every table stream: each committed change becomes a change event on the
// bus, where rules route it to the functions' queues.
func routeStreams(rt *devruntime.Runtime, cfg aws.Config, log *slog.Logger) error {
	res := rt.Resources()
	tables := map[string]string{}
	for _, logical := range rt.Topology().StreamTables() {
		tables[res.Tables[logical].Name] = logical
	}
	if len(tables) == 0 {
		return errors.New("the topology has no stream tables")
	}
	r, err := router.New(router.Config{
		Client: eventbridge.NewFromConfig(cfg), BusName: res.Bus.Name, Source: rt.Topology().EventSource(),
		Tables: tables, Logger: log,
	})
	if err != nil {
		return err
	}
	for _, logical := range rt.Topology().StreamTables() {
		rt.StreamReader("router-"+logical, logical, r.Handle)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func fatal(log *slog.Logger, what string, err error) {
	log.Error(what+" failed", "error", err.Error())
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
