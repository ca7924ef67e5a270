package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

var update = flag.Bool("update", false, "rewrite testdata/stack.golden.json from the synthesized templates")

// The parity test needs the emulator; the template tests share one
// synthesis (each costs tens of seconds of node time), made on first use.
func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	if synth.dir != "" {
		os.RemoveAll(synth.dir)
	}
	os.Exit(code)
}

// synthesized is one stack's synthesized template, parsed.
type synthesized struct {
	stage     stack.Stage
	st        *stack.Stack
	template  assertions.Template
	raw       map[string]any
	resources map[string]resource
	outputs   map[string]any
}

type resource struct {
	Type                string         `json:"Type"`
	Properties          map[string]any `json:"Properties"`
	DeletionPolicy      string         `json:"DeletionPolicy"`
	UpdateReplacePolicy string         `json:"UpdateReplacePolicy"`
	Metadata            map[string]any `json:"Metadata"`
}

// alarmEmails subscribed to the alarm topic, per stage.
var alarmEmails = map[stack.Stage][]string{stack.Prod: {"oncall@example.com"}}

// dataPlane keys the data-plane stack among the synthesized stacks.
const dataPlane stack.Stage = "local"

// externalIssuer keys a prod stack that trusts an external OIDC issuer
// (no user pool) and sets its own throttles.
const externalIssuer stack.Stage = "external"

// The browser origins the prod stack allows (dev allows any over HTTP).
var prodOrigins = []string{"https://app.example.com", "https://admin.example.com"}

// The external issuer stack's settings.
var external = struct {
	auth     stack.AuthConfig
	origins  []string
	http, ws stack.Throttle
}{
	auth: stack.AuthConfig{
		Issuer:      "https://example.eu.auth0.com/",
		Audience:    []string{"app-client-1", "app-client-2"},
		GroupsClaim: "https://fooddelivery.example.com/roles",
		Groups:      []string{"restaurant"},
	},
	origins: []string{"https://app.example.com"},
	http:    stack.Throttle{RatePerSecond: 25, Burst: 40},
	ws:      stack.Throttle{RatePerSecond: 5, Burst: 10},
}

// appAuth is the user pool configuration of the dev and prod stacks, as
// main.go gives it.
var appAuth = stack.AuthConfig{Groups: fooddelivery.App.Users.Groups, AdminOnlyAttributes: fooddelivery.App.Users.AdminOnlyAttributes}

var synth struct {
	once   sync.Once
	dir    string
	err    error
	stacks map[stack.Stage]*synthesized
	// twoRoutes is a dev stack of twoRoutesTopology: one function fed by
	// two routes.
	twoRoutes *synthesized
	// canary is a stack with a resource cdk-nag must flag, proving the
	// checks are active.
	canary awscdk.Stack
}

// synthesize builds one app with the dev and prod stacks (and the nag
// canary) and synthesizes it once for the whole test binary.
func synthesize(t *testing.T) map[stack.Stage]*synthesized {
	t.Helper()
	if testing.Short() {
		t.Skip("synthesizes the CDK app (tens of seconds): runs in make test, not with -short")
	}
	synth.once.Do(func() { synth.err = doSynth() })
	if synth.err != nil {
		t.Fatalf("synthesize: %v", synth.err)
	}
	return synth.stacks
}

func doSynth() error {
	dir, err := os.MkdirTemp("", "infra-test-")
	if err != nil {
		return err
	}
	synth.dir = dir
	// Placeholder deployment packages: synthesis only hashes and copies
	// them, so tests never need `make build`. Each differs so that a
	// function wired to the wrong folder shows in the asset hashes.
	code := filepath.Join(dir, "build")
	for _, name := range append(fooddelivery.App.Lambdas(), twoRoutesFunction) {
		if err := os.MkdirAll(filepath.Join(code, name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(code, name, "bootstrap"), []byte("placeholder for "+name+"\n"), 0o755); err != nil {
			return err
		}
	}
	if err := stack.CheckAssets(code, fooddelivery.App.Topology()); err != nil {
		return err
	}
	// The CLI's context (feature flags included) from cdk.json, so the
	// tests synthesize what `cdk synth` does.
	cdkJSON, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		return err
	}
	var cfg struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(cdkJSON, &cfg); err != nil {
		return fmt.Errorf("cdk.json: %w", err)
	}
	if cfg.App != "go run ./infra" {
		return fmt.Errorf("cdk.json: app %q, want go run ./infra", cfg.App)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &cfg.Context, Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	synth.stacks = map[stack.Stage]*synthesized{}
	for _, stage := range []stack.Stage{stack.Dev, stack.Prod} {
		var origins []string
		if stage == stack.Prod {
			origins = prodOrigins
		}
		st, err := stack.NewStack(app, "fooddelivery-"+string(stage), stack.Props{
			Topology:           fooddelivery.App.Topology(),
			Stage:              stage,
			Code:               stack.AssetDirs(code),
			Auth:               appAuth,
			AllowedOrigins:     origins,
			AccountLoggingRole: true,
			AlarmEmails:        alarmEmails[stage],
		})
		if err != nil {
			return err
		}
		synth.stacks[stage] = &synthesized{stage: stage, st: st}
	}
	// Prod trusting an external issuer, with its own throttles.
	st, err := stack.NewStack(app, "fooddelivery-external", stack.Props{
		Topology:          fooddelivery.App.Topology(),
		Stage:             stack.Prod,
		Code:              stack.AssetDirs(code),
		Auth:              external.auth,
		AllowedOrigins:    external.origins,
		HTTPThrottle:      external.http,
		WebSocketThrottle: external.ws,
	})
	if err != nil {
		return err
	}
	synth.stacks[externalIssuer] = &synthesized{stage: stack.Prod, st: st}
	// The LocalStack data plane (no code, local names).
	st, err = stack.NewStack(app, "fooddelivery-local", stack.Props{
		Topology: fooddelivery.App.Topology(), Stage: stack.Dev, DataPlaneOnly: true,
	})
	if err != nil {
		return err
	}
	synth.stacks[dataPlane] = &synthesized{stage: dataPlane, st: st}
	st, err = stack.NewStack(app, "tworoutes-dev", stack.Props{
		Topology: twoRoutesTopology, Stage: stack.Dev, Code: stack.AssetDirs(code), PushQueueThreshold: 250,
	})
	if err != nil {
		return err
	}
	synth.twoRoutes = &synthesized{stage: stack.Dev, st: st}
	stack.ApplyChecks(app)
	// The canary lives in an app of its own: with cdk.json's flags an error
	// annotation fails the synthesis of its whole app.
	canaryApp := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "canary.out"))})
	synth.canary = newNagCanary(canaryApp)
	stack.ApplyChecks(canaryApp)

	all := []*synthesized{synth.twoRoutes}
	for _, s := range synth.stacks {
		all = append(all, s)
	}
	for _, s := range all {
		s.template = assertions.Template_FromStack(s.st.Stack, nil)
		b, err := json.Marshal(s.template.ToJSON())
		if err != nil {
			return err
		}
		var doc struct {
			Resources map[string]resource `json:"Resources"`
			Outputs   map[string]any      `json:"Outputs"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		if err := json.Unmarshal(b, &s.raw); err != nil {
			return err
		}
		s.resources, s.outputs = doc.Resources, doc.Outputs
	}
	return nil
}

// id is the logical id of a construct's CloudFormation resource.
func (s *synthesized) id(c constructs.IConstruct) string {
	cfn, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		panic(fmt.Sprintf("%s has no CloudFormation resource", *c.Node().Path()))
	}
	return fmt.Sprint(s.st.Resolve(s.st.GetLogicalId(cfn)))
}

// res is the resource of a construct, failing the test when absent.
func (s *synthesized) res(t *testing.T, c constructs.IConstruct, typ string) resource {
	t.Helper()
	id := s.id(c)
	r, ok := s.resources[id]
	if !ok {
		t.Fatalf("%s: no resource %s", s.stage, id)
	}
	if r.Type != typ {
		t.Fatalf("%s: %s is %s, want %s", s.stage, id, r.Type, typ)
	}
	return r
}

// ofType lists the resources of a CloudFormation type, by logical id.
func (s *synthesized) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }

func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

// forStages runs f as a subtest for each stage's full stack.
func forStages(t *testing.T, f func(t *testing.T, s *synthesized)) {
	for _, stage := range []stack.Stage{stack.Dev, stack.Prod} {
		s := synthesize(t)[stage]
		t.Run(string(stage), func(t *testing.T) { f(t, s) })
	}
}

// forFullStacks runs f as a subtest for every stack with APIs: dev, prod
// and prod with an external issuer.
func forFullStacks(t *testing.T, f func(t *testing.T, s *synthesized)) {
	for _, key := range []stack.Stage{stack.Dev, stack.Prod, externalIssuer} {
		s := synthesize(t)[key]
		t.Run(string(key), func(t *testing.T) { f(t, s) })
	}
}

// path walks nested maps and slices: path(v, "A", "B", 0).
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
