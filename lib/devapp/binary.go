package devapp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/lambdarun"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/topology"
)

// How the dev runtime runs the functions (EnvLambda).
const (
	// LambdaInProcess builds each function's handler in the dev runtime's
	// process: the default, the fastest edit-run loop.
	LambdaInProcess = "inprocess"
	// LambdaBinary builds each function's bootstrap as `make build` does
	// (for the host) and runs it under AWS's runtime interface emulator:
	// the deployment artifacts, a last check before a deploy.
	LambdaBinary = "binary"
)

// wireBinaries registers a on rt with every function run as its binary
// (see LambdaBinary): built into o.BuildDir from the module at o.ModuleDir
// (default the module of the working directory),
// started once rt listens (the realtime functions need its address for
// the Management API), given the environment the dev runtime gives the
// in-process handlers and the emulator's endpoint and keys. The HTTP API
// front door serves /graphql without GraphiQL, as a deployment does.
func wireBinaries(ctx context.Context, rt *devruntime.Runtime, a app.App, o Options, env func(string) *app.Env) error {
	log := rt.Logger()
	dir := o.BuildDir
	if dir == "" {
		dir = filepath.Join(".dev", "lambda")
	}
	module := o.ModuleDir
	if module == "" {
		var err error
		if module, err = moduleRoot("."); err != nil {
			return err
		}
	}
	fmt.Printf("building the function binaries in %s (DEV_LAMBDA=binary)\n", dir)
	var rie string
	var rieErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rie, rieErr = lambdarun.BuildEmulator(ctx, module, dir)
	}()
	bins, err := lambdarun.Build(ctx, lambdarun.BuildConfig{Dir: module, Out: dir, Packages: lambdarun.Packages(a.Lambdas())})
	<-done
	if err := errors.Join(err, rieErr); err != nil {
		return err
	}
	creds, err := rt.AWS().Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("devapp: credentials for the functions: %w", err)
	}
	fns := &binaries{ready: make(chan struct{}), fns: map[string]*lambdarun.Function{}}
	go func() {
		select {
		case <-rt.Ready():
		case <-ctx.Done():
			return
		}
		fns.err = fns.start(ctx, a, rt, env, bins, rie, creds)
		close(fns.ready)
		if fns.err != nil {
			log.Error("function binaries did not start", "error", fns.err.Error())
		}
		<-ctx.Done()
		fns.close()
	}()

	for _, logical := range a.Topology().StreamTables() {
		rt.StreamReader("router-"+logical, logical, streamHandler(fns, topology.RouterFunction))
		rt.StreamReader("realtime-"+logical, logical, streamHandler(fns, topology.FanOutFunction))
	}
	for _, name := range a.FunctionNames() {
		for _, route := range rt.Resources().RoutesOf(name) {
			rt.QueueConsumer(route.Name, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				f, err := fns.get(ctx, name)
				if err != nil {
					return events.SQSEventResponse{}, err
				}
				return f.SQS(ctx, ev)
			})
		}
	}
	rt.Handle(Path, lambdarun.NewHTTPAPI(lambdarun.HTTPAPIConfig{
		Handler: func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			f, err := fns.get(ctx, topology.GraphQLFunction)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return f.HTTPAPI(ctx, req)
		},
		APIID: "local",
	}))
	front, err := localws.New(localws.Config{
		Handler: func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			f, err := fns.get(ctx, topology.RealtimeFunction)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return f.WebSocketAPI(ctx, req)
		},
		Logger: log, InitTimeout: o.WSInitTimeout,
	})
	if err != nil {
		return err
	}
	rt.HandleWebSocket(Path, front)
	rt.Handle("/@connections/", front.Management())
	go func() {
		<-ctx.Done()
		front.Close()
	}()
	return nil
}

func streamHandler(fns *binaries, name string) devruntime.StreamHandler {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		f, err := fns.get(ctx, name)
		if err != nil {
			return events.DynamoDBEventResponse{}, err
		}
		return f.DynamoDBStream(ctx, ev)
	}
}

// binaries are the running functions, started once the runtime listens.
type binaries struct {
	ready chan struct{}
	err   error
	mu    sync.Mutex
	fns   map[string]*lambdarun.Function
}

func (b *binaries) get(ctx context.Context, name string) (*lambdarun.Function, error) {
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.err != nil {
		return nil, b.err
	}
	return b.fns[name], nil
}

func (b *binaries) start(ctx context.Context, a app.App, rt *devruntime.Runtime, env func(string) *app.Env, bins map[string]string, rie string, creds aws.Credentials) error {
	endpoint := aws.ToString(rt.AWS().BaseEndpoint)
	var errs []error
	for _, name := range a.Lambdas() {
		vars := rt.Env(name)
		if f, ok := a.Function(name); ok {
			// The DevEnv settings, as the in-process handlers get them.
			e := env(name)
			for _, k := range f.DevEnv {
				if v := e.Getenv(k); v != "" {
					vars[k] = v
				}
			}
		}
		if name == topology.RealtimeFunction || name == topology.FanOutFunction {
			vars[topology.EnvManagementEndpoint] = rt.URL()
		}
		var timeout time.Duration
		var memory int
		if f, ok := a.Topology().Function(name); ok {
			timeout, memory = f.Timeout, f.MemoryMB
		}
		f, err := lambdarun.Start(ctx, lambdarun.Config{
			Name: name, Bootstrap: bins[name], Emulator: rie, Env: vars,
			Region: rt.AWS().Region, Credentials: creds, Endpoint: endpoint,
			Timeout: timeout, MemoryMB: memory, Output: functionLog{},
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.mu.Lock()
		b.fns[name] = f
		b.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (b *binaries) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.fns {
		_ = f.Close()
	}
}

// functionLog passes what a function prints to the dev runtime's log (stderr):
// its JSON log lines as they are, other lines after the function's name;
// the emulator's per-invocation START, END and REPORT lines are left out.
type functionLog struct{}

func (functionLog) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	_, rest, _ := strings.Cut(line, "] ")
	switch {
	case strings.HasPrefix(rest, "START RequestId") || strings.HasPrefix(rest, "END RequestId") || strings.HasPrefix(rest, "REPORT RequestId"):
	case strings.HasPrefix(rest, "{"):
		fmt.Fprintln(os.Stderr, rest)
	default:
		fmt.Fprintln(os.Stderr, line)
	}
	return len(p), nil
}

// moduleRoot is the nearest directory at or above dir holding a go.mod.
func moduleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("devapp: DEV_LAMBDA=binary builds the functions from their Go module, and no go.mod is at or above %s", abs)
		}
	}
}
