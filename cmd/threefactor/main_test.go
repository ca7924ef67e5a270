package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
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
	code = run(context.Background(), fooddelivery.App, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := threefactor("help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"command line of app fooddelivery", "new function", "routes", "help"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = threefactor("help", "new", "function")
	if code != 0 || !strings.Contains(out, "usage: threefactor new function NAME --table TABLE --on INSERT|MODIFY|REMOVE") ||
		!strings.Contains(out, "--where ATTR=VALUE") || !strings.Contains(out, "--app-file FILE") || !strings.Contains(out, "(default events/app.go)") {
		t.Errorf("help new function: exit %d\n%s", code, out)
	}
	code, out, _ = threefactor("routes", "-h")
	if code != 0 || !strings.Contains(out, "usage: threefactor routes [--json]") || !strings.Contains(out, "--json") {
		t.Errorf("routes -h: exit %d\n%s", code, out)
	}
}

// A bad command line exits with 2 and says what is wrong.
func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "commands:"},
		{[]string{"deploy"}, 2, `no command "deploy"`},
		{[]string{"help", "deploy"}, 2, `no command "deploy"`},
		{[]string{"new"}, 2, "say what: new function"},
		{[]string{"new", "function"}, 2, "want NAME, got 0 argument(s)"},
		{[]string{"new", "function", "a", "b", "--table", "orders", "--on", "INSERT"}, 2, "want NAME, got 2 argument(s): a b"},
		{[]string{"new", "function", "notify", "--on", "INSERT"}, 2, "--table is required"},
		{[]string{"new", "function", "notify", "--table", "orders"}, 2, "--on is required"},
		{[]string{"new", "function", "notify", "--table", "orders", "--on", "UPSERT"}, 2, `--on "UPSERT": want INSERT, MODIFY or REMOVE`},
		{[]string{"new", "function", "notify", "--table", "orders", "--on", "INSERT", "--where", "status"}, 2, `--where "status": want ATTR=VALUE`},
		{[]string{"new", "function", "notify", "--tabel", "orders"}, 2, "flag provided but not defined: -tabel"},
		{[]string{"routes", "extra"}, 2, "takes no arguments"},
		// Checked against the app after it is read: a failure, not usage.
		{[]string{"new", "function", "notify", "--table", "orders", "--on", "INSERT", "--app-file", "no/such/app.go"}, 1, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := threefactor(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tt.code, tt.msg)
			}
			if out != "" {
				t.Errorf("stdout: %s", out)
			}
		})
	}
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
	if got.App != "fooddelivery" || len(got.Routes) != len(topo.Routes) {
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

// The pretty-printer only adds whitespace.
func TestIndentJSON(t *testing.T) {
	raw := `{"a":[1,"x,]\"y",{"b":[]}],"c":{},"d":[],"e":{"f":["g"]}}`
	got, err := indentJSON([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(got)); err != nil {
		t.Fatalf("%v:\n%s", err, got)
	}
	if compact.String() != raw {
		t.Fatalf("compacted %s, want %s", compact.String(), raw)
	}
	if !strings.Contains(got, `"f": ["g"]`) || !strings.Contains(got, "\"c\": {},") {
		t.Errorf("layout:\n%s", got)
	}
}

// repoRoot is the module root.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}
