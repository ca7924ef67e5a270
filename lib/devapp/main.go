package devapp

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

// Environment variables Main reads.
const (
	// EnvAddr is the listen address; default 127.0.0.1:8080.
	EnvAddr = "DEV_ADDR"
	// EnvWSInitTimeout overrides how long a WebSocket connection may stay
	// unacknowledged before it is closed with 4408 (a Go duration, e.g. 3s).
	EnvWSInitTimeout = "DEV_WS_INIT_TIMEOUT"
	// EnvManagementRate holds the local Management API to that many calls
	// a second, like API Gateway's account throttle (e.g. 2000); unset: no
	// limit.
	EnvManagementRate = "DEV_MANAGEMENT_RATE"
	// EnvLambda is how the functions run: "inprocess" (default) or
	// "binary", their deployment binaries under the runtime interface
	// emulator (see LambdaBinary).
	EnvLambda = "DEV_LAMBDA"
)

// Main is the dev runtime's command (`make dev`): it makes sure an AWS
// API emulator runs (or uses AWS_ENDPOINT_URL), provisions it from a's
// topology and runs a until SIGINT or SIGTERM.
//
//	dev                 # serve on DEV_ADDR or 127.0.0.1:8080
//	dev -stop-emulator  # stop the local emulator (its data is in memory: gone)
//	dev -wipe           # stop it and delete the state directory
func Main(a app.App) {
	addr := flag.String("addr", envOr(EnvAddr, "127.0.0.1:8080"), "HTTP listen address (env "+EnvAddr+")")
	stateDir := flag.String("state-dir", ".dev", "directory for the local emulator's pid, endpoint and log, and the local issuer's keys")
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
	if err := run(ctx, a, log, *addr, *stateDir); err != nil {
		fatal(log, "dev", err)
	}
}

func run(ctx context.Context, a app.App, log *slog.Logger, addr, stateDir string) error {
	if err := a.Validate(); err != nil {
		return err
	}
	var (
		o   Options
		err error
	)
	if v := os.Getenv(EnvWSInitTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvWSInitTimeout, err)
		}
		o.WSInitTimeout = d
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
	token := fmt.Sprintf("%-10s make token USER=alice  (then Authorization: Bearer <token> over HTTP, {\"Authorization\":\"Bearer <token>\"} in connection_init)", "Token")
	issuer := fmt.Sprintf("%-10s %s  (client %s; keys in %s)", "Issuer", o.Issuer.Issuer(), o.Issuer.ClientID(), o.Issuer.Path())
	notes := []string{token, issuer, note}
	if o.Lambda == LambdaBinary {
		notes = append(notes, fmt.Sprintf("%-10s binaries under the runtime interface emulator (%s=binary), built in %s", "Functions", EnvLambda, o.BuildDir))
	}
	rt, err := devruntime.New(devruntime.Config{AWS: cfg, Topology: a.Topology(), Addr: addr, Logger: log, Notes: notes})
	if err != nil {
		return err
	}
	if _, err := rt.Provision(ctx); err != nil {
		return err
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
