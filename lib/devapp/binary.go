package devapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/lambdarun"
	"github.com/threefactor/framework/lib/origin"
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
// (default the module of the working directory), started once rt listens
// (the realtime functions need its address), each given vars(name), the
// environment of the in-process handler, plus what a deployment's
// functions find by other means: where the issuer's keys are
// (topology.EnvAuthJWKSURL; the dev issuer's name resolves nowhere), the
// Management API endpoint, the allowed origins, and the realtime
// function's token expiry schedule group (made in the emulator, which
// does not run schedules: connections are not closed at token expiry in
// this mode). The front doors are the in-process mode's: the HTTP API
// with its JWT authorizer, the WebSocket API, the issuer's keys.
func wireBinaries(ctx context.Context, rt *devruntime.Runtime, a app.App, o Options, vars func(string) map[string]string, verifier *identity.Verifier) error {
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
	origins, err := origin.FromEnv(o.Getenv)
	if err != nil {
		return err
	}
	origins = origins.WithLoopback()
	group, role, err := expirySchedules(ctx, rt.AWS(), a.Name)
	if err != nil {
		return err
	}

	fns := &binaries{ready: make(chan struct{}), fns: map[string]*lambdarun.Function{}}
	go func() {
		select {
		case <-rt.Ready():
		case <-ctx.Done():
			return
		}
		extra := func(name string) map[string]string {
			e := map[string]string{topology.EnvAuthJWKSURL: rt.URL() + devissuer.JWKSPath}
			switch name {
			case topology.GraphQLFunction:
				// The binary serves the dev stage's GraphiQL page (its files
				// from the CDN, as deployed); its WebSocket is this one.
				e[topology.EnvGraphiQLSubscriptionsURL] = "ws" + strings.TrimPrefix(rt.URL(), "http") + topology.GraphQLPath
			case topology.RealtimeFunction:
				e[topology.EnvAllowedOrigins] = origins.String()
				e[topology.EnvExpiryScheduleGroup], e[topology.EnvExpirySchedulerRoleARN] = group, role
				fallthrough
			case topology.FanOutFunction, topology.PushFunction:
				e[topology.EnvManagementEndpoint] = rt.URL()
			}
			return e
		}
		fns.err = fns.start(ctx, a, rt, vars, extra, bins, rie, creds)
		close(fns.ready)
		if fns.err != nil {
			log.Error("function binaries did not start", "error", fns.err.Error())
		}
		<-ctx.Done()
		fns.close()
	}()

	for _, logical := range a.Topology().StreamTables() {
		rt.StreamReader("router-"+logical, logical, func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			f, err := fns.get(ctx, topology.RouterFunction)
			if err != nil {
				return events.DynamoDBEventResponse{}, err
			}
			return f.DynamoDBStream(ctx, ev)
		}, devruntime.WakeDelay(routerWakeDelay))
		rt.StreamReader("realtime-"+logical, logical, func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			f, err := fns.get(ctx, topology.FanOutFunction)
			if err != nil {
				return events.DynamoDBEventResponse{}, err
			}
			return f.DynamoDBStream(ctx, ev)
		})
	}
	rt.PushConsumer(func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		f, err := fns.get(ctx, topology.PushFunction)
		if err != nil {
			return events.SQSEventResponse{}, err
		}
		return f.SQS(ctx, ev)
	})
	// Every route's queue, the framework's eventlog route's too.
	for _, route := range a.Topology().RoutesWithDefaults() {
		name := route.Function
		rt.QueueConsumer(route.Name, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			f, err := fns.get(ctx, name)
			if err != nil {
				return events.SQSEventResponse{}, err
			}
			return f.SQS(ctx, ev)
		})
	}
	gql := func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		f, err := fns.get(ctx, topology.GraphQLFunction)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return f.HTTPAPI(ctx, req)
	}
	rt.HandleHTTPAPI(topology.GraphQLPath, gql, verifier)
	rt.HandleHTTPAPI(topology.GraphiQLPath, gql, nil)
	rt.ServeIssuer(o.Issuer)
	front, err := localws.New(localws.Config{
		Handler: func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			f, err := fns.get(ctx, topology.RealtimeFunction)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return f.WebSocketAPI(ctx, req)
		},
		Logger: log, InitTimeout: o.WSInitTimeout,
		IdleTimeout: o.WSIdleTimeout, MaxLifetime: o.WSMaxLifetime,
		// The binaries sign their Management API calls with the runtime's
		// credentials, which they are given.
		Credentials: rt.AWS().Credentials, Region: rt.AWS().Region, Origins: origins,
		ManagementRate: o.ManagementRate,
	})
	if err != nil {
		return err
	}
	rt.HandleWebSocket(topology.GraphQLPath, front)
	rt.Handle("/@connections/", front.Management())
	go func() {
		<-ctx.Done()
		front.Close()
	}()
	return nil
}

// expirySchedules makes the schedule group the realtime function puts
// its token expiry schedules in (infra makes it on AWS), and names a role
// for them; the emulator keeps the schedules without running them.
func expirySchedules(ctx context.Context, cfg aws.Config, app string) (group, role string, err error) {
	group = app + "-dev-expiry"
	_, err = scheduler.NewFromConfig(cfg).CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(group)})
	var exists *schedtypes.ConflictException
	if err != nil && !errors.As(err, &exists) {
		return "", "", fmt.Errorf("devapp: expiry schedule group %s: %w", group, err)
	}
	return group, fmt.Sprintf("arn:aws:iam::%s:role/%s", emulator.AccountID, group), nil
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
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.fns[name]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("devapp: function %s is not running: %v", name, b.err)
}

func (b *binaries) start(ctx context.Context, a app.App, rt *devruntime.Runtime, vars, extra func(string) map[string]string,
	bins map[string]string, rie string, creds aws.Credentials) error {
	endpoint := aws.ToString(rt.AWS().BaseEndpoint)
	var errs []error
	for _, name := range a.Lambdas() {
		env := vars(name)
		for k, v := range extra(name) {
			env[k] = v
		}
		var timeout time.Duration
		var memory int
		if f, ok := a.Topology().Function(name); ok {
			timeout, memory = f.Timeout, f.MemoryMB
		}
		f, err := lambdarun.Start(ctx, lambdarun.Config{
			Name: name, Bootstrap: bins[name], Emulator: rie, Env: env,
			Region: rt.AWS().Region, Credentials: creds, Endpoint: endpoint,
			Timeout: timeout, MemoryMB: memory, Output: functionLog{log: rt.Logger(), name: name},
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

// functionLog passes what a function prints to the dev runtime's log:
// its JSON log lines as records of the runtime's logger (so they read
// like the in-process functions' lines, in either format), other lines
// as they are after the function's name; the emulator's per-invocation
// START, END and REPORT lines are left out.
type functionLog struct {
	log  *slog.Logger
	name string
}

func (f functionLog) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	_, rest, _ := strings.Cut(line, "] ")
	switch {
	case strings.HasPrefix(rest, "START RequestId") || strings.HasPrefix(rest, "END RequestId") || strings.HasPrefix(rest, "REPORT RequestId"):
	case strings.HasPrefix(rest, "{"):
		if r, ok := jsonRecord(rest); ok {
			if !r.attrs("component") {
				r.AddAttrs(slog.String("component", f.name))
			}
			if f.log.Enabled(context.Background(), r.Level) {
				_ = f.log.Handler().Handle(context.Background(), r.Record)
			}
			break
		}
		fmt.Fprintln(os.Stderr, rest)
	default:
		fmt.Fprintln(os.Stderr, line)
	}
	return len(p), nil
}

// decodedRecord is a JSON log line read back as a record.
type decodedRecord struct {
	slog.Record
	keys map[string]bool
}

func (r decodedRecord) attrs(key string) bool { return r.keys[key] }

// jsonRecord reads a line slog's JSON handler wrote: time, level, msg and
// the attributes in their order.
func jsonRecord(line string) (decodedRecord, bool) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return decodedRecord{}, false
	}
	var (
		at    time.Time
		level slog.Level
		msg   string
		attrs []slog.Attr
		keys  = map[string]bool{}
	)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return decodedRecord{}, false
		}
		key, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return decodedRecord{}, false
		}
		switch s, _ := v.(string); key {
		case slog.TimeKey:
			at, _ = time.Parse(time.RFC3339Nano, s)
		case slog.LevelKey:
			if level.UnmarshalText([]byte(s)) != nil {
				return decodedRecord{}, false
			}
		case slog.MessageKey:
			msg = s
		default:
			keys[key] = true
			attrs = append(attrs, slog.Any(key, jsonValue(v)))
		}
	}
	if at.IsZero() {
		at = time.Now()
	}
	r := slog.NewRecord(at, level, msg, 0)
	r.AddAttrs(attrs...)
	return decodedRecord{Record: r, keys: keys}, true
}

// jsonValue turns a decoded JSON value back into what slog logs alike:
// numbers as numbers, objects as groups.
func jsonValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		as := make([]any, 0, len(keys))
		for _, k := range keys {
			as = append(as, slog.Any(k, jsonValue(x[k])))
		}
		return slog.GroupValue(attrsOf(as)...)
	}
	return v
}

func attrsOf(as []any) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = a.(slog.Attr)
	}
	return out
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
