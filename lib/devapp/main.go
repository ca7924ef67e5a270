package devapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/console"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/humanlog"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/topology"
)

// Environment variables Main reads.
const (
	// EnvAddr is the listen address; default 127.0.0.1:8080.
	EnvAddr = "DEV_ADDR"
	// EnvWSInitTimeout overrides how long a WebSocket connection may stay
	// unacknowledged before it is closed with 4408 (a Go duration, e.g. 3s).
	EnvWSInitTimeout = "DEV_WS_INIT_TIMEOUT"
	// EnvWSIdleTimeout and EnvWSMaxLifetime override how long a WebSocket
	// connection may go without a message from its client (default 10m)
	// and how long any connection lasts (default 2h), API Gateway's
	// limits; short values show a client's keep-alive and reconnect.
	EnvWSIdleTimeout = "DEV_WS_IDLE_TIMEOUT"
	EnvWSMaxLifetime = "DEV_WS_MAX_LIFETIME"
	// EnvManagementRate holds the local Management API to that many calls
	// a second, like API Gateway's account throttle (e.g. 2000); unset: no
	// limit.
	EnvManagementRate = "DEV_MANAGEMENT_RATE"
	// EnvLambda is how the functions run: "inprocess" (default) or
	// "binary", their deployment binaries under the runtime interface
	// emulator (see LambdaBinary).
	EnvLambda = "DEV_LAMBDA"
	// EnvEventLogRetention sets how long the local event log keeps records
	// ("30d", "10m"); unset, until make dev-clean.
	EnvEventLogRetention = "DEV_EVENTLOG_RETENTION"
)

// Main is the dev runtime's command (`make dev`): it makes sure an AWS
// API emulator runs (or uses AWS_ENDPOINT_URL), provisions it from a's
// topology and runs a until SIGINT or SIGTERM.
//
// The event log is kept under the state directory (eventlog.LocalDir)
// until `make dev-clean`, or for DEV_EVENTLOG_RETENTION. When the
// emulator comes up empty (it was stopped, the machine rebooted) and the
// log is not, the local state is restored from the log before serving
// (RestoreFromLog). With AWS_ENDPOINT_URL the log is the endpoint's
// eventlog table instead, as in the cloud.
//
//	dev                 # serve on DEV_ADDR or 127.0.0.1:8080
//	dev -stop-emulator  # stop the local emulator (its memory is gone; the next start restores it from the event log)
//	dev -wipe           # stop it and delete the state directory, the event log with it
func Main(a app.App) {
	addr := flag.String("addr", envOr(EnvAddr, "127.0.0.1:8080"), "HTTP listen address (env "+EnvAddr+")")
	stateDir := flag.String("state-dir", ".dev", "directory for the local emulator's pid, endpoint and log, and the local issuer's keys")
	stopEmulator := flag.Bool("stop-emulator", false, "stop the local emulator recorded in the state dir and exit (its memory is lost; the next start restores the data from the event log)")
	wipe := flag.Bool("wipe", false, "stop the local emulator and delete the state dir, the event log with it: all local data is lost")
	flag.Parse()

	log, err := humanlog.Logger(os.Stderr, os.Getenv, humanlog.Options{SourceWidth: sourceWidth(a)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(2)
	}
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
	if err := run(ctx, a, log, *addr, *stateDir, FindGraphiQLAssets()); err != nil {
		fatal(log, "dev", err)
	}
}

func run(ctx context.Context, a app.App, log *slog.Logger, addr, stateDir, graphiqlAssets string) error {
	if err := a.Validate(); err != nil {
		return err
	}
	var (
		o   = Options{GraphiQLAssets: graphiqlAssets, DemoUser: DefaultDemoUser}
		err error
	)
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{EnvWSInitTimeout, &o.WSInitTimeout}, {EnvWSIdleTimeout, &o.WSIdleTimeout}, {EnvWSMaxLifetime, &o.WSMaxLifetime}} {
		if v := os.Getenv(d.env); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return fmt.Errorf("%s=%q: want a positive Go duration such as 90s or 10m", d.env, v)
			}
			*d.to = t
		}
	}
	if v := os.Getenv(EnvManagementRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 {
			return fmt.Errorf("%s: want a number of calls a second, got %q", EnvManagementRate, v)
		}
		o.ManagementRate = r
	}
	if o.Issuer, err = devissuer.Open(stateDir, a.Name); err != nil {
		return err
	}
	o.Lambda, o.BuildDir = os.Getenv(EnvLambda), filepath.Join(stateDir, "lambda")

	userEndpoint := os.Getenv("AWS_ENDPOINT_URL") != ""
	var store *eventlog.FileStore
	// The local log is the process's own; with DEV_LAMBDA=binary the
	// functions are other processes, which write the log's table on the
	// endpoint, as on AWS.
	if !a.DisableEventLog && !userEndpoint && o.Lambda != LambdaBinary {
		if store, err = openLocalLog(a, stateDir, log); err != nil {
			return err
		}
		defer store.Close()
		o.EventLog = store
	}
	cfg, endpoint, err := awsConfig(ctx, stateDir)
	if err != nil {
		return err
	}
	// What the SDK logs shows like the runtime's own lines.
	cfg.Logger = sdkLogger{log}
	emuNote := "AWS_ENDPOINT_URL"
	if !userEndpoint {
		emuNote = "moto; keeps its data across restarts (make dev-stop, make dev-clean); log " + shortPath(filepath.Join(stateDir, "moto.log"))
	}
	banner := func(url string) []string {
		ws := "ws" + strings.TrimPrefix(url, "http")
		graphiql := fmt.Sprintf("open it: you are %q, with a fresh token in its headers", o.DemoUser)
		if o.GraphiQLAssets == "" {
			graphiql = "not installed: run make deps"
		}
		rows := [][3]string{
			{"GraphiQL", url + topology.GraphiQLPath, graphiql},
			{"GraphQL", url + topology.GraphQLPath, "the API: POST or GET with Authorization: Bearer <token>"},
			{"Console", url + console.Path, "the event log live, traces, item histories, dead letters (this machine only)"},
			{"WebSocket", ws + topology.GraphQLPath, `subscriptions (graphql-transport-ws), {"Authorization":"Bearer <token>"} in connection_init`},
			{"Token", "make token USER=alice", "issuer " + o.Issuer.Issuer() + ", keys in " + shortPath(o.Issuer.Path())},
			{"Watch", "make subscribe Q='subscription ...'", "each push as a JSON line (threefactor subscribe)"},
			{"Emulator", endpoint, emuNote},
		}
		switch {
		case store != nil:
			keep := "kept until make dev-clean"
			if v := os.Getenv(EnvEventLogRetention); v != "" {
				keep = "kept for " + v + " (" + EnvEventLogRetention + ")"
			}
			rows = append(rows, [3]string{"Event log", shortPath(store.Dir()), keep + "; threefactor log TABLE/KEY, threefactor trace ID"})
		case !a.DisableEventLog:
			rows = append(rows, [3]string{"Event log", "table " + a.Topology().TableName("eventlog"), "on the endpoint"})
		}
		rows = append(rows, [3]string{"Logs", "below", "a line per request, change, delivery and push (LOG_FORMAT=human or json)"})
		if o.Lambda == LambdaBinary {
			rows = append(rows, [3]string{"Functions", shortPath(o.BuildDir), "binaries under the runtime interface emulator (" + EnvLambda + "=binary)"})
		}
		return columns(rows)
	}
	rt, err := devruntime.New(devruntime.Config{AWS: cfg, Topology: a.Topology(), Addr: addr, Logger: log, Banner: banner})
	if err != nil {
		return err
	}
	if _, err := rt.Provision(ctx); err != nil {
		return err
	}
	if store != nil {
		if _, err := RestoreFromLog(ctx, rt, a, store, os.Stdout, log); err != nil {
			return err
		}
	}
	if err := Wire(ctx, rt, a, o); err != nil {
		return err
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
		// Most often an emulator on loopback too (see the function's doc).
		cfg.HTTPClient = emulator.BufferRequestBodies(cfg.HTTPClient)
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

// columns aligns label, value and note.
func columns(rows [][3]string) []string {
	w := 0
	for _, r := range rows {
		w = max(w, len(r[1]))
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%-10s %-*s  %s", r[0], w, r[1], r[2])
	}
	return out
}

// shortPath is p relative to the working directory when it is under it.
func shortPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		return abs
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}

// sourceWidth is the width of the log's source column: the longest of
// the app's function names and the framework's event kinds.
func sourceWidth(a app.App) int {
	w := len("subscribe")
	for _, f := range a.Functions {
		w = max(w, len(f.Name))
	}
	return w
}

// openLocalLog opens the event log under the state directory for
// writing, with the retention DEV_EVENTLOG_RETENTION sets.
func openLocalLog(a app.App, stateDir string, log *slog.Logger) (*eventlog.FileStore, error) {
	var retention time.Duration
	if v := os.Getenv(EnvEventLogRetention); v != "" {
		d, err := eventlog.ParseRetention(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvEventLogRetention, err)
		}
		retention = d
	}
	dir := eventlog.LocalDir(stateDir)
	cfg := eventlog.FileConfig{Topology: a.Topology(), Retention: retention, Logger: log}
	if retention > 0 && retention < 10*time.Minute {
		cfg.CompactEvery = retention // a short retention is for watching records expire
	}
	store, err := eventlog.OpenFileStore(dir, cfg)
	if errors.Is(err, eventlog.ErrLocked) {
		return nil, fmt.Errorf("the event log %s is held by another process: is another make dev running with the state dir %s?", dir, stateDir)
	}
	return store, err
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
