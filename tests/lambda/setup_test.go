package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/jsii-runtime-go"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/cfn"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/lambdarun"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/harness"
)

// root is the module's root.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// artifacts are the binaries, built once for the test binary.
type artifacts struct {
	dir       string
	emulator  string
	bootstrap map[string]string
}

// template is the app's synthesized dev stack, with the logical id of
// each function's AWS::Lambda::Function.
type template struct {
	tmpl      *cfn.Template
	functions map[string]string
}

// env is what every test shares: the binaries, the template, an emulator
// that enforces IAM provisioned by the dev provisioner, one IAM user per
// function carrying its role's statements, the proxy that names refused
// calls, the local issuer, and the dev runtime, whose front door stands in
// for the HTTP and WebSocket APIs and whose mappings feed the functions.
type env struct {
	art     *artifacts
	tpl     *template
	moto    *emulator.Server
	admin   aws.Config
	res     *provision.Resources
	stack   *lambdarun.Stack
	access  *lambdarun.Access
	proxy   *lambdarun.Proxy
	users   map[string]aws.Credentials
	widened []string
	// timings say how long each part of the setup took.
	timings []string

	issuer  *devissuer.Issuer
	gql     *gqlClient
	ws      *localws.Server
	runtime *devruntime.Runtime
	stopRT  context.CancelFunc
	rtDone  chan error
}

var (
	setupOnce sync.Once
	shared    *env
	setupErr  error

	cleanupMu sync.Mutex
	cleanups  []func()
)

// atExit registers f to run when the test binary ends, last first.
func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// setup builds, synthesizes and provisions once for the test binary; the
// three run at once (each takes a while). With -short the test is skipped:
// it needs moto, the go toolchain and node.
func setup(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("builds every Lambda and runs them on the emulator: runs in make test and make test-lambda, not with -short")
	}
	setupOnce.Do(func() { shared, setupErr = doSetup() })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return shared
}

func doSetup() (*env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	e := &env{users: map[string]aws.Credentials{}, access: lambdarun.NewAccess()}
	var wg sync.WaitGroup
	var buildErr, synthErr, motoErr error
	var mu sync.Mutex
	took := func(what string, start time.Time) {
		mu.Lock()
		defer mu.Unlock()
		e.timings = append(e.timings, fmt.Sprintf("%s %s", what, time.Since(start).Round(100*time.Millisecond)))
	}
	start := time.Now()
	wg.Add(3)
	go func() { defer wg.Done(); defer took("build", start); e.art, buildErr = build(ctx) }()
	go func() { defer wg.Done(); defer took("synthesize", start); e.tpl, synthErr = synthesize() }()
	go func() {
		defer wg.Done()
		defer took("emulator", start)
		var s *emulator.Server
		s, e.admin, motoErr = emulator.StartEnforcingIAM(ctx, os.Getenv("EMULATOR_LOG"))
		if motoErr == nil {
			e.moto = s
			atExit(func() { _ = s.Close() })
		}
	}()
	wg.Wait()
	if err := errors.Join(buildErr, synthErr, motoErr); err != nil {
		return nil, err
	}
	start = time.Now()
	if err := e.provision(ctx); err != nil {
		return nil, err
	}
	took("provision", start)
	return e, nil
}

// build builds every Lambda of the app for the host, as `make build` does
// for linux/arm64, and the runtime interface emulator.
func build(ctx context.Context) (*artifacts, error) {
	dir, err := os.MkdirTemp("", "lambda-test-")
	if err != nil {
		return nil, err
	}
	atExit(func() { os.RemoveAll(dir) })
	a := &artifacts{dir: dir}
	var wg sync.WaitGroup
	var rieErr, binErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.emulator, rieErr = lambdarun.BuildEmulator(ctx, root(), dir)
	}()
	a.bootstrap, binErr = lambdarun.Build(ctx, lambdarun.BuildConfig{
		Dir: root(), Out: filepath.Join(dir, "build"), Packages: lambdarun.Packages(fooddelivery.App.Lambdas()), Parallel: 2,
	})
	wg.Wait()
	return a, errors.Join(rieErr, binErr)
}

// synthesize builds the dev stack as infra's tests do (cdk.json's
// context, placeholder code: the template does not depend on the code's
// content) and reads its template back from the cloud assembly.
func synthesize() (*template, error) {
	dir, err := os.MkdirTemp("", "lambda-synth-")
	if err != nil {
		return nil, err
	}
	atExit(func() { os.RemoveAll(dir) })
	code := filepath.Join(dir, "build")
	for _, name := range fooddelivery.App.Lambdas() {
		if err := os.MkdirAll(filepath.Join(code, name), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(code, name, "bootstrap"), []byte("placeholder for "+name+"\n"), 0o755); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(filepath.Join(root(), "cdk.json"))
	if err != nil {
		return nil, err
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cdk); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &cdk.Context, Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	const id = "fooddelivery-dev"
	st, err := stack.NewStack(app, id, stack.Props{
		Topology: fooddelivery.App.Topology(), Stage: stack.Dev, Code: stack.AssetDirs(code), AccountLoggingRole: true,
	})
	if err != nil {
		return nil, err
	}
	logicalID := func(fn awslambda.Function) string {
		return fmt.Sprint(st.Resolve(st.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))))
	}
	functions := map[string]string{
		"router":              logicalID(st.Pipeline.Router),
		"graphql":             logicalID(st.HTTP.Function),
		"realtime":            logicalID(st.Realtime.Function),
		"fanout":              logicalID(st.Realtime.FanOut),
		topology.PushFunction: logicalID(st.Realtime.PushWorker),
	}
	if st.Pipeline.EventLog != nil {
		functions[topology.EventLogFunction] = logicalID(st.Pipeline.EventLog)
	}
	if st.Pipeline.EventLog != nil {
		functions[topology.EventLogFunction] = logicalID(st.Pipeline.EventLog)
	}
	for name, fn := range st.Pipeline.Functions {
		functions[name] = logicalID(fn)
	}
	asm := app.Synth(nil)
	raw, err := os.ReadFile(filepath.Join(*asm.Directory(), id+".template.json"))
	if err != nil {
		return nil, err
	}
	tmpl, err := cfn.Parse(raw)
	if err != nil {
		return nil, err
	}
	return &template{tmpl: tmpl, functions: functions}, nil
}

// provision makes the app's resources with the dev provisioner (as the
// administrator), starts the dev runtime and the proxy, reads the
// template against the resources, makes what the stack makes beyond them,
// and gives each function an IAM user carrying its role's statements.
func (e *env) provision(ctx context.Context) error {
	topo := fooddelivery.App.Topology()
	proxy, err := e.access.Proxy(e.moto.Endpoint())
	if err != nil {
		return err
	}
	e.proxy = proxy
	atExit(func() { _ = proxy.Close() })

	cfg := harness.FastConfig(e.admin, topo)
	cfg.StreamRetryBackoff, cfg.StreamMaxBackoff = 50*time.Millisecond, 300*time.Millisecond
	rt, err := devruntime.New(cfg)
	if err != nil {
		return err
	}
	if e.res, err = rt.Provision(ctx); err != nil {
		return err
	}
	e.runtime = rt
	// The data a fresh environment starts with (the restaurants), as `make
	// dev` seeds it.
	seedEnv := app.NewEnv(e.admin, app.MapEnv(e.res.Env(topology.GraphQLFunction)), slog.New(slog.DiscardHandler))
	if _, err := fooddelivery.App.Seed(ctx, seedEnv); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// The dev runtime plays AWS's part: its front door stands in for the
	// stack's APIs and serves the local issuer's keys; its mappings are
	// registered once the functions run (wire).
	dir, err := os.MkdirTemp("", "lambda-issuer-")
	if err != nil {
		return err
	}
	atExit(func() { os.RemoveAll(dir) })
	if e.issuer, err = devissuer.Open(dir, fooddelivery.App.Name); err != nil {
		return err
	}
	rt.ServeIssuer(e.issuer)
	runCtx, stop := context.WithCancel(context.Background())
	e.stopRT, e.rtDone = stop, make(chan error, 1)
	go func() { e.rtDone <- rt.Run(runCtx) }()
	select {
	case <-rt.Ready():
	case err := <-e.rtDone:
		return fmt.Errorf("dev runtime: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}

	e.stack, err = lambdarun.LoadStack(lambdarun.StackConfig{
		Template: e.tpl.tmpl, Topology: topo, Resources: e.res, Functions: e.tpl.functions,
		Region: emulator.Region, AccountID: emulator.AccountID,
		APIs: map[string]string{"HTTP": rt.URL(), "WEBSOCKET": rt.URL()},
		Identity: &lambdarun.Identity{
			Issuer: e.issuer.Issuer(), ClientID: e.issuer.ClientID(), JWKSURL: rt.URL() + devissuer.JWKSPath,
		},
	})
	if err != nil {
		return err
	}
	// What the stack makes that the dev provisioner does not, and a
	// function calls: the realtime function's token expiry schedule group.
	sched := scheduler.NewFromConfig(e.admin)
	for _, id := range e.tpl.tmpl.OfType(cfn.TypeScheduleGroup) {
		name, _ := e.tpl.tmpl.Resources[id].Properties["Name"].(string)
		if _, err := sched.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(name)}); err != nil {
			return fmt.Errorf("schedule group %s (%s): %w", name, id, err)
		}
	}
	for _, name := range sortedNames(e.stack.Functions) {
		doc, widened, err := lambdarun.EmulatorPolicy(e.stack.Functions[name].Statements)
		if err != nil {
			return fmt.Errorf("function %s: %w", name, err)
		}
		e.widened = append(e.widened, widened...)
		creds, err := emulator.CreateUser(ctx, e.admin, userName(name), map[string]string{rolePolicy: doc})
		if err != nil {
			return err
		}
		e.users[name] = creds
		e.access.AddPrincipal(creds, name, e.stack.Functions[name].Statements)
	}
	return nil
}

// rolePolicy names the inline policy of each function's user.
const rolePolicy = "role"

func userName(function string) string { return "lambda-" + function }

// userConfig is an AWS config with function's keys, through the proxy.
func (e *env) userConfig(t *testing.T, function string) aws.Config {
	t.Helper()
	cfg, err := emulator.UserConfig(context.Background(), e.proxy.URL(), e.users[function])
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
