package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
)

// TestRun drives the app with the context values the CLI would pass.
func TestRun(t *testing.T) {
	synthesize(t) // share the jsii runtime start-up with the other tests
	build := placeholderBuild(t)
	for _, tc := range []struct {
		name    string
		context map[string]any
		wantErr string
		want    string // template written
	}{
		{name: "unknown stage", context: map[string]any{"stage": "qa"}, wantErr: `stage "qa": want dev or prod`},
		{name: "no binaries", context: map[string]any{"buildDir": filepath.Join(t.TempDir(), "none")}, wantErr: "run `make build` first"},
		{name: "data plane needs no binaries", context: map[string]any{"dataPlane": "true", "buildDir": "/nonexistent"}, want: "fooddelivery-local.template.json"},
		// Refused before anything is synthesized.
		{name: "prod must name its origins", context: map[string]any{"stage": "prod", "buildDir": build}, wantErr: "the prod stage needs -c allowedOrigins"},
		{name: "prod refuses any origin", context: map[string]any{"stage": "prod", "buildDir": build, "allowedOrigins": "*"}, wantErr: `"*" is refused in the prod stage`},
		{name: "prod refuses http", context: map[string]any{"stage": "prod", "buildDir": build, "allowedOrigins": "http://app.example.com"}, wantErr: "https origins only"},
		{name: "origin with a path", context: map[string]any{"buildDir": build, "allowedOrigins": "https://app.example.com/"}, wantErr: "without path or trailing slash"},
		{name: "old key", context: map[string]any{"buildDir": build, "corsOrigins": "*"}, wantErr: "corsOrigins is now allowedOrigins"},
		{name: "issuer without audience", context: map[string]any{"buildDir": build, "issuer": "https://example.auth0.com/"}, wantErr: "give the audience"},
		{name: "audience without issuer", context: map[string]any{"buildDir": build, "audience": "abc"}, wantErr: "given without an issuer"},
		{name: "plain http issuer", context: map[string]any{"buildDir": build, "issuer": "http://example.com", "audience": "abc"}, wantErr: "want an https URL"},
		{name: "mfa with an external issuer", context: map[string]any{"buildDir": build, "issuer": "https://example.com", "audience": "abc", "mfa": "required"}, wantErr: "MFA is the issuer's setting"},
		{name: "unknown mfa", context: map[string]any{"buildDir": build, "mfa": "sometimes"}, wantErr: "want off, optional or required"},
		{name: "groups claim with Cognito", context: map[string]any{"buildDir": build, "groupsClaim": "roles"}, wantErr: "Cognito puts groups in cognito:groups"},
		{name: "bad boolean", context: map[string]any{"buildDir": build, "selfSignUp": "yes please"}, wantErr: "selfSignUp"},
		{name: "bad rate", context: map[string]any{"buildDir": build, "httpRateLimit": "fast"}, wantErr: "httpRateLimit"},
		{name: "fractional burst", context: map[string]any{"buildDir": build, "wsBurstLimit": "2.5"}, wantErr: "whole positive burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			err := run(awscdk.NewApp(&awscdk.AppProps{Context: &tc.context, Outdir: jsii.String(out)}))
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("run() = %v, want an error containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("run() = %v", err)
			default:
				if _, err := os.Stat(filepath.Join(out, tc.want)); err != nil {
					t.Errorf("no %s: %v", tc.want, err)
				}
			}
		})
	}
}

// placeholderBuild is a build directory with a bootstrap per function.
func placeholderBuild(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range fooddelivery.App.Lambdas() {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestContext: the -c values reach the stack's Props.
func TestContext(t *testing.T) {
	synthesize(t)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{
		"allowedOrigins":   " https://app.example.com, https://admin.example.com ",
		"issuer":           "https://example.okta.com/oauth2/default",
		"audience":         "api://default,mobile",
		"groupsClaim":      "groups",
		"httpRateLimit":    "20",
		"httpBurstLimit":   "40",
		"wsRateLimit":      "5",
		"threatProtection": false,
	}})
	origins, err := allowedOrigins(app, stack.Prod)
	if err != nil || !reflect.DeepEqual(origins, []string{"https://app.example.com", "https://admin.example.com"}) {
		t.Errorf("allowedOrigins = %v, %v", origins, err)
	}
	auth, err := authConfig(app)
	want := stack.AuthConfig{
		Issuer: "https://example.okta.com/oauth2/default", Audience: []string{"api://default", "mobile"}, GroupsClaim: "groups",
		Groups: fooddelivery.App.Users.Groups, AdminOnlyAttributes: fooddelivery.App.Users.AdminOnlyAttributes,
	}
	if err != nil || !reflect.DeepEqual(auth, want) {
		t.Errorf("authConfig = %+v, %v; want %+v", auth, err, want)
	}
	if err := auth.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if th, err := throttle(app, "http"); err != nil || th != (stack.Throttle{RatePerSecond: 20, Burst: 40}) {
		t.Errorf("http throttle = %+v, %v", th, err)
	}
	// The burst left out takes the stage's default.
	if th, err := throttle(app, "ws"); err != nil || th != (stack.Throttle{RatePerSecond: 5}) {
		t.Errorf("ws throttle = %+v, %v", th, err)
	}

	none := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{"allowedOrigins": "none", "mfa": "off", "selfSignUp": "true"}})
	if origins, err := allowedOrigins(none, stack.Prod); err != nil || origins != nil {
		t.Errorf("allowedOrigins none = %v, %v", origins, err)
	}
	if auth, err := authConfig(none); err != nil || auth.MFA != stack.MFAOff || !auth.SelfSignUp || auth.Issuer != "" {
		t.Errorf("authConfig = %+v, %v", auth, err)
	}
	if origins, err := allowedOrigins(awscdk.NewApp(nil), stack.Dev); err != nil || origins != nil {
		t.Errorf("dev without allowedOrigins = %v, %v", origins, err)
	}
	for v, want := range map[string]time.Duration{"": 0, "90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour} {
		got, err := eventLogRetention(awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{"eventLogRetention": v}}))
		if err != nil || got != want {
			t.Errorf("eventLogRetention %q = %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := eventLogRetention(awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{"eventLogRetention": "forever"}})); err == nil {
		t.Error("eventLogRetention=forever accepted")
	}
	for v, want := range map[string]int{"": 0, "500": 500, "1": 1} {
		got, err := pushQueueThreshold(awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{"pushQueueThreshold": v}}))
		if err != nil || got != want {
			t.Errorf("pushQueueThreshold %q = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"0", "-5", "lots"} {
		if _, err := pushQueueThreshold(awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{"pushQueueThreshold": v}})); err == nil || !strings.Contains(err.Error(), "pushQueueThreshold") {
			t.Errorf("pushQueueThreshold=%s: %v", v, err)
		}
	}
}
