package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The test of `new function` in a copy of the repository runs the
// generated test, which needs the emulator: AWS_ENDPOINT_URL, or the
// private one Main starts and names in the environment the go commands
// inherit.
func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// threefactor runs the command line in-process.
func threefactor(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), cli.Config{App: fooddelivery.App}, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRoutes holds `threefactor routes` of the reference app to
// testdata/routes.golden and routes.json.golden (go test ./cmd/threefactor
// -update rewrites them), and the JSON patterns to what the topology
// deploys.
func TestRoutes(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		golden string
	}{
		{[]string{"routes"}, "routes.golden"},
		{[]string{"routes", "--json"}, "routes.json.golden"},
	} {
		code, out, errOut := threefactor(tt.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
		}
		golden := filepath.Join("testdata", tt.golden)
		if *update {
			if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%v:\n%s\nwant (%s):\n%s", tt.args, out, golden, want)
		}
	}

	_, out, _ := threefactor("routes", "--json")
	var got struct {
		App    string
		Routes []struct {
			Name                     string
			Function                 string
			Pattern                  json.RawMessage
			BatchSize                int
			MaxReceiveCount          int
			VisibilityTimeoutSeconds int
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	topo := fooddelivery.App.Topology()
	if got.App != "fooddelivery" || len(got.Routes) != len(topo.RoutesWithDefaults()) {
		t.Fatalf("app %s, %d routes", got.App, len(got.Routes))
	}
	for i, r := range topo.RoutesWithDefaults() {
		g := got.Routes[i]
		var compact bytes.Buffer
		if err := json.Compact(&compact, g.Pattern); err != nil {
			t.Fatal(err)
		}
		if g.Name != r.Name || g.Function != r.Function || compact.String() != topo.EventPatternJSON(r) ||
			g.BatchSize != r.BatchSize || g.MaxReceiveCount != r.MaxReceiveCount || g.VisibilityTimeoutSeconds != int(r.VisibilityTimeout.Seconds()) {
			t.Errorf("route %d: %+v, pattern %s; want %+v, pattern %s", i, g, compact.String(), r, topo.EventPatternJSON(r))
		}
	}
}

// repoRoot is the module root.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}
