package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/scaffold"
	"github.com/threefactor/framework/lib/topology"
)

type note struct {
	ID string `json:"id"`
}

// notes is a small app: one table, one function, two routes.
var notes = app.App{
	Name: "notes",
	Tables: []topology.Table{
		{Name: "notes", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
	},
	Functions: []app.Function{{
		Function: topology.Function{Name: "index", Tables: []string{"notes"}, Timeout: 20 * time.Second},
		Handler: app.Handle(func(context.Context, *app.Env) (consumer.Handler[note], error) {
			return func(context.Context, change.Change[note]) error { return nil }, nil
		}),
	}},
	Routes: []topology.Route{
		{Name: "index-notes", Function: "index", Match: topology.Match{
			Table: "notes", Operations: []topology.Operation{topology.Insert, topology.Modify},
			New: map[string]topology.Condition{"kind": topology.Is("a", "b")},
			Old: map[string]topology.Condition{"kind": topology.AnythingBut("a")},
		}},
		{Name: "drop-notes", Function: "index", Match: topology.Match{Table: "notes", Operations: []topology.Operation{topology.Remove}}, BatchSize: 1, MaxReceiveCount: 3},
	},
	GraphQL: app.GraphQL{
		SDL:      "schema { query: Query } type Query { ok: Boolean! }",
		Resolver: func(context.Context, *app.Env) (any, error) { return nil, nil },
		Topics: realtime.Topics{
			Subscription: func(string, map[string]any) (string, error) { return "", nil },
			Change:       func(change.Event) []string { return nil },
		},
	},
}

var cfg = cli.Config{App: notes, Layout: scaffold.Layout{AppFile: "notes/app.go", FunctionsDir: "notes/functions"}}

// threefactor runs the command line in-process.
func threefactor(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), cfg, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := threefactor("help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"command line of app notes", "new function", "routes", "help"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = threefactor("help", "new", "function")
	if code != 0 || !strings.Contains(out, "usage: threefactor new function NAME --table TABLE --on INSERT|MODIFY|REMOVE") ||
		!strings.Contains(out, "--where ATTR=VALUE") || !strings.Contains(out, "--app-file FILE") || !strings.Contains(out, "(default notes/app.go)") {
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

// routes prints every route with its defaults, and the JSON patterns are
// the ones the topology deploys.
func TestRoutes(t *testing.T) {
	code, out, errOut := threefactor("routes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"index-notes -> index\n  batch size 10, max receive count 5, visibility timeout 120s\n  local queue notes-index-notes (dlq notes-index-notes-dlq)\n",
		`"kind": [{"anything-but": ["a"]}]`, `"kind": ["a", "b"]`, `"operation": ["INSERT", "MODIFY"]`,
		"drop-notes -> index\n  batch size 1, max receive count 3, visibility timeout 120s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("routes lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = threefactor("routes", "--json")
	var got struct {
		App    string
		Routes []struct {
			Name, Function           string
			Pattern                  json.RawMessage
			BatchSize                int
			MaxReceiveCount          int
			VisibilityTimeoutSeconds int
			LocalQueue, LocalDLQ     string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	topo := notes.Topology()
	if got.App != "notes" || len(got.Routes) != 3 || got.Routes[2].Name != topology.EventLogRoute {
		t.Fatalf("%+v", got)
	}
	for i, r := range topo.RoutesWithDefaults() {
		g := got.Routes[i]
		var compact bytes.Buffer
		_ = json.Compact(&compact, g.Pattern)
		if g.Name != r.Name || g.Function != r.Function || compact.String() != topo.EventPatternJSON(r) || g.BatchSize != r.BatchSize ||
			g.MaxReceiveCount != r.MaxReceiveCount || g.VisibilityTimeoutSeconds != int(r.VisibilityTimeout.Seconds()) || g.LocalQueue != topo.QueueName(r.Name) || g.LocalDLQ != topo.DLQName(r.Name) {
			t.Errorf("route %d: %+v %s", i, g, compact.String())
		}
	}
}
