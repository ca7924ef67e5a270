package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// TestRun drives the app with the context values the CLI would pass.
func TestRun(t *testing.T) {
	synthesize(t) // share the jsii runtime start-up with the other tests
	for _, tc := range []struct {
		name    string
		context map[string]any
		wantErr string
		want    string // template written
	}{
		{name: "unknown stage", context: map[string]any{"stage": "qa"}, wantErr: `stage "qa": want dev or prod`},
		{name: "no binaries", context: map[string]any{"buildDir": filepath.Join(t.TempDir(), "none")}, wantErr: "run `make build` first"},
		{name: "data plane needs no binaries", context: map[string]any{"dataPlane": "true", "buildDir": "/nonexistent"}, want: "fooddelivery-local.template.json"},
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
