package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/topology"
)

func TestParseStage(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Stage
		wantErr bool
	}{
		{"dev", Dev, false},
		{"prod", Prod, false},
		{"staging", "", true},
		{"", "", true},
		{"PROD", "", true},
	} {
		got, err := ParseStage(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseStage(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestStageSettings(t *testing.T) {
	if Dev.Introspection() != true || Prod.Introspection() != false {
		t.Error("introspection: want on in dev, off in prod")
	}
	if Dev.LogLevel() != "debug" || Prod.LogLevel() != "info" {
		t.Errorf("log levels %s/%s", Dev.LogLevel(), Prod.LogLevel())
	}
	if d, p := DefaultThrottle(Dev), DefaultThrottle(Prod); d.RatePerSecond >= p.RatePerSecond || d.Burst < d.RatePerSecond {
		t.Errorf("throttles dev %+v prod %+v", d, p)
	}
}

func TestPascal(t *testing.T) {
	for in, want := range map[string]string{
		"orders":       "Orders",
		"order-items":  "OrderItems",
		"validate_it":  "ValidateIt",
		"a-b-c":        "ABC",
		"assigndriver": "Assigndriver",
	} {
		if got := topology.Pascal(in); got != want {
			t.Errorf("topology.Pascal(%q) = %q, want %q", in, got, want)
		}
	}
	if LogicalTableID("order-items") != "TableOrderItems" {
		t.Errorf("LogicalTableID = %s", LogicalTableID("order-items"))
	}
}

var testTopology = topology.Topology{
	App:       "shop",
	Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
	Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}, Timeout: 5 * time.Second}},
	Routes: []topology.Route{{
		Name: "ship-order", Function: "ship",
		Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Insert}},
	}},
}

func TestLambdas(t *testing.T) {
	want := []string{"eventlog", "fanout", "graphql", "pushworker", "realtime", "router", "ship"}
	if got := testTopology.Lambdas(); !reflect.DeepEqual(got, want) {
		t.Errorf("Lambdas = %v, want %v", got, want)
	}
}

func TestCheckAssets(t *testing.T) {
	root := t.TempDir()
	err := CheckAssets(root, testTopology)
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), "fanout, graphql, pushworker, realtime, router, ship") {
		t.Fatalf("empty build dir: %v", err)
	}
	for _, name := range testTopology.Lambdas() {
		if name == "ship" {
			continue
		}
		os.MkdirAll(filepath.Join(root, name), 0o755)
		if err := os.WriteFile(filepath.Join(root, name, "bootstrap"), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckAssets(root, testTopology); err == nil || !strings.HasSuffix(err.Error(), "for ship: run `make build` first") {
		t.Fatalf("one missing: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "ship"), 0o755)
	os.WriteFile(filepath.Join(root, "ship", "bootstrap"), []byte("x"), 0o755)
	if err := CheckAssets(root, testTopology); err != nil {
		t.Fatalf("all present: %v", err)
	}
}

// NewStack refuses a topology that does not validate, before creating
// anything.
func TestNewStackRejects(t *testing.T) {
	bad := testTopology
	bad.Routes = append([]topology.Route(nil), bad.Routes...)
	bad.Routes[0].Function = "nosuch"
	if _, err := NewStack(nil, "x", Props{Topology: bad, Stage: Dev, Code: AssetDirs("build")}); err == nil ||
		!strings.Contains(err.Error(), `unknown function "nosuch"`) {
		t.Errorf("invalid topology: %v", err)
	}
	if _, err := NewStack(nil, "x", Props{Topology: testTopology, Stage: "qa", Code: AssetDirs("build")}); err == nil {
		t.Error("unknown stage accepted")
	}
	if _, err := NewStack(nil, "x", Props{Topology: testTopology, Stage: Dev}); err == nil {
		t.Error("no code source accepted")
	}
}

func TestAuthConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       AuthConfig
		wantErr string
	}{
		{name: "user pool defaults", c: AuthConfig{}},
		{name: "user pool with settings", c: AuthConfig{Groups: []string{"restaurant", "driver"}, AdminOnlyAttributes: []string{"restaurantId"},
			MFA: MFARequired, SelfSignUp: true, ThreatProtection: true, GroupsClaim: DefaultGroupsClaim}},
		{name: "external", c: AuthConfig{Issuer: "https://example.auth0.com/", Audience: []string{"a", "b"}, GroupsClaim: "https://example.com/roles",
			Groups: []string{"restaurant"}, AdminOnlyAttributes: []string{"restaurantId"}}},
		{name: "external path issuer", c: AuthConfig{Issuer: "https://example.okta.com/oauth2/default", Audience: []string{"api://default"}}},
		{name: "http issuer", c: AuthConfig{Issuer: "http://example.com", Audience: []string{"a"}}, wantErr: "want an https URL"},
		{name: "issuer with query", c: AuthConfig{Issuer: "https://example.com/?x=1", Audience: []string{"a"}}, wantErr: "want an https URL"},
		{name: "issuer not a URL", c: AuthConfig{Issuer: "example.com", Audience: []string{"a"}}, wantErr: "want an https URL"},
		{name: "issuer without audience", c: AuthConfig{Issuer: "https://example.com"}, wantErr: "give the audience"},
		{name: "audience with comma", c: AuthConfig{Issuer: "https://example.com", Audience: []string{"a,b"}}, wantErr: "without spaces or commas"},
		{name: "empty audience", c: AuthConfig{Issuer: "https://example.com", Audience: []string{""}}, wantErr: "without spaces or commas"},
		{name: "audience without issuer", c: AuthConfig{Audience: []string{"a"}}, wantErr: "given without an issuer"},
		{name: "mfa with external", c: AuthConfig{Issuer: "https://example.com", Audience: []string{"a"}, MFA: MFAOptional}, wantErr: "MFA is the issuer's setting"},
		{name: "sign-up with external", c: AuthConfig{Issuer: "https://example.com", Audience: []string{"a"}, SelfSignUp: true}, wantErr: "sign-up is the issuer's"},
		{name: "threat protection with external", c: AuthConfig{Issuer: "https://example.com", Audience: []string{"a"}, ThreatProtection: true}, wantErr: "threat protection"},
		{name: "other groups claim with Cognito", c: AuthConfig{GroupsClaim: "groups"}, wantErr: "Cognito puts groups in cognito:groups"},
		{name: "groups claim with space", c: AuthConfig{Issuer: "https://example.com", Audience: []string{"a"}, GroupsClaim: "my groups"}, wantErr: "without spaces"},
		{name: "unknown mfa", c: AuthConfig{MFA: "sometimes"}, wantErr: "want off, optional or required"},
		{name: "duplicate group", c: AuthConfig{Groups: []string{"a", "a"}}, wantErr: "listed twice"},
		{name: "empty group", c: AuthConfig{Groups: []string{""}}, wantErr: "1 to 128 characters"},
		{name: "prefixed attribute", c: AuthConfig{AdminOnlyAttributes: []string{"custom:restaurantId"}}, wantErr: "without the custom: prefix"},
		{name: "long attribute", c: AuthConfig{AdminOnlyAttributes: []string{"anAttributeNameTooLong"}}, wantErr: "up to 19"},
		{name: "duplicate attribute", c: AuthConfig{AdminOnlyAttributes: []string{"x", "x"}}, wantErr: "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestResolveOrigins(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stage    Stage
		in       []string
		wantCORS []string
		wantEnv  []string
		wantErr  string
	}{
		{name: "dev default", stage: Dev, wantCORS: []string{"*"}},
		{name: "prod default", stage: Prod},
		{name: "dev any", stage: Dev, in: []string{"*"}, wantCORS: []string{"*"}},
		{name: "prod any", stage: Prod, in: []string{"*"}, wantErr: `"*" is refused in the prod stage`},
		{name: "any among others", stage: Dev, in: []string{"https://a.example.com", "*"}, wantErr: "list nothing else"},
		{name: "named", stage: Prod, in: []string{"https://a.example.com", "https://b.example.com:8443"},
			wantCORS: []string{"https://a.example.com", "https://b.example.com:8443"}, wantEnv: []string{"https://a.example.com", "https://b.example.com:8443"}},
		{name: "http in dev", stage: Dev, in: []string{"http://localhost:3000"}, wantCORS: []string{"http://localhost:3000"}, wantEnv: []string{"http://localhost:3000"}},
		{name: "http in prod", stage: Prod, in: []string{"http://a.example.com"}, wantErr: "https origins only"},
		{name: "trailing slash", stage: Prod, in: []string{"https://a.example.com/"}, wantErr: "without path"},
		{name: "path", stage: Prod, in: []string{"https://a.example.com/app"}, wantErr: "without path"},
		{name: "wildcard subdomain", stage: Dev, in: []string{"https://*.example.com"}, wantErr: "as a browser sends it"},
		{name: "upper case", stage: Prod, in: []string{"https://App.example.com"}, wantErr: "lower case"},
		{name: "no scheme", stage: Prod, in: []string{"app.example.com"}, wantErr: "as a browser sends it"},
		{name: "other scheme", stage: Dev, in: []string{"ftp://a.example.com"}, wantErr: "as a browser sends it"},
		{name: "duplicate", stage: Prod, in: []string{"https://a.example.com", "https://a.example.com"}, wantErr: "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveOrigins(tc.stage, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolveOrigins = %+v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got.CORS, tc.wantCORS) || !reflect.DeepEqual(got.Env, tc.wantEnv) {
				t.Errorf("resolveOrigins = %+v, %v; want CORS %v env %v", got, err, tc.wantCORS, tc.wantEnv)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	if got := (Throttle{}).orDefault(Prod); got != DefaultThrottle(Prod) {
		t.Errorf("zero throttle in prod = %+v", got)
	}
	if got := (Throttle{RatePerSecond: 7}).orDefault(Dev); got != (Throttle{RatePerSecond: 7, Burst: DefaultThrottle(Dev).Burst}) {
		t.Errorf("rate only = %+v", got)
	}
	for _, bad := range []Throttle{{RatePerSecond: -1}, {Burst: -2}, {RatePerSecond: 1, Burst: 1.5}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (Throttle{RatePerSecond: 0.5, Burst: 1}).Validate(); err != nil {
		t.Errorf("a fractional rate is valid: %v", err)
	}
}

func TestMFA(t *testing.T) {
	if DefaultMFA(Prod) != MFARequired || DefaultMFA(Dev) != MFAOptional {
		t.Errorf("defaults: prod %s dev %s", DefaultMFA(Prod), DefaultMFA(Dev))
	}
	for _, s := range []string{"off", "optional", "required"} {
		if m, err := ParseMFA(s); err != nil || string(m) != s {
			t.Errorf("ParseMFA(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseMFA("ON"); err == nil {
		t.Error("ParseMFA accepted ON")
	}
}

// NewStack refuses what the stage cannot have before creating anything.
func TestNewStackRejectsAuthAndOrigins(t *testing.T) {
	base := Props{Topology: testTopology, Stage: Prod, Code: AssetDirs("build")}
	for name, mutate := range map[string]func(p *Props){
		"any origin in prod": func(p *Props) { p.AllowedOrigins = []string{AnyOrigin} },
		"bad auth":           func(p *Props) { p.Auth = AuthConfig{Audience: []string{"x"}} },
		"bad throttle":       func(p *Props) { p.WebSocketThrottle = Throttle{Burst: 0.5} },
	} {
		p := base
		mutate(&p)
		if _, err := NewStack(nil, "x", p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
