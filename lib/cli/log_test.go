package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// localLog writes a small history into a state directory's event log,
// as make dev would: a note created by alice's request, indexed by the
// index function (retried once), which then updates it; each change
// pushed to one subscriber, the update also to one that resumed later.
func localLog(t *testing.T) string {
	t.Helper()
	stateDir := t.TempDir()
	l, err := eventlog.OpenFileStore(eventlog.LocalDir(stateDir), eventlog.FileConfig{Topology: notes.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	writeHistory(t, l)
	return stateDir
}

// writeHistory writes the note's history into l.
func writeHistory(t *testing.T, l eventlog.Log) {
	t.Helper()
	t0 := time.Date(2026, 11, 30, 7, 1, 2, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(id string, op topology.Operation, old, new string, changed []string, seq, ms int, by string) change.Event {
		e := change.Event{ID: id, Table: "notes", Operation: op, Keys: json.RawMessage(`{"id":"n1"}`), Changed: changed,
			SequenceNumber: "1000000000000000000" + string(rune('0'+seq)), ApproximateAt: at(ms), CorrelationID: "req-1", CausedBy: by}
		if old != "" {
			e.Old = json.RawMessage(old)
		}
		if new != "" {
			e.New = json.RawMessage(new)
		}
		return e
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.WriteChanges(ctx,
		ev("ev-1", topology.Insert, "", `{"id":"n1","kind":"c","text":"hello","correlationId":"req-1","causedBy":"alice"}`, nil, 1, 0, "alice"),
		ev("ev-2", topology.Modify, `{"id":"n1","kind":"c","text":"hello","correlationId":"req-1","causedBy":"alice"}`,
			`{"id":"n1","kind":"b","text":"hello","indexed":true,"correlationId":"req-1","causedBy":"alice"}`, []string{"indexed", "kind"}, 2, 140, "alice"),
	))
	must(l.WriteDeliveries(ctx,
		eventlog.Delivery{EventID: "ev-1", Route: "index-notes", Function: "index", Attempt: 1, Outcome: eventlog.Retry, Error: "search unavailable", DurationMs: 12.25, At: at(10), MessageID: "m-1", CorrelationID: "req-1", CausedBy: "alice"},
		eventlog.Delivery{EventID: "ev-1", Route: "index-notes", Function: "index", Attempt: 2, Outcome: eventlog.OK, DurationMs: 30, At: at(120), MessageID: "m-1", CorrelationID: "req-1", CausedBy: "alice"},
		eventlog.Delivery{EventID: "ev-2", Route: "index-notes", Function: "index", Attempt: 1, Outcome: eventlog.OK, DurationMs: 4, At: at(160), MessageID: "m-2", CorrelationID: "req-1", CausedBy: "alice"},
	))
	must(l.WritePushes(ctx,
		eventlog.Push{EventID: "ev-1", Topic: "note:n1", ConnectionID: "c-1", SubscriptionID: "1", Outcome: eventlog.Pushed, At: at(5), DurationMs: 2, CorrelationID: "req-1"},
		eventlog.Push{EventID: "ev-2", Topic: "note:n1", ConnectionID: "c-1", SubscriptionID: "1", Outcome: eventlog.Gone, At: at(145), DurationMs: 1, CorrelationID: "req-1"},
		// A client that resumed with after: its catch-up pushed it ev-2.
		eventlog.Push{EventID: "ev-2", Topic: "note:n1", ConnectionID: "c-2", SubscriptionID: "1", Outcome: eventlog.Pushed, At: at(300), DurationMs: 1.5, CorrelationID: "req-1", CatchUp: true},
		// A push to c-3 failed and was kept, and delivered later.
		eventlog.Push{EventID: "ev-1", Topic: "note:n1", ConnectionID: "c-3", SubscriptionID: "2", Outcome: eventlog.Kept, Error: "post to c-3: 500", At: at(6), DurationMs: 30, CorrelationID: "req-1"},
		eventlog.Push{EventID: "ev-1", Topic: "note:n1", ConnectionID: "c-3", SubscriptionID: "2", Outcome: eventlog.Pushed, At: at(400), DurationMs: 2.5, CorrelationID: "req-1", Redelivered: true},
	))
}

// local runs the command line as on a machine without AWS settings.
func local(args ...string) (int, string, string) {
	c := cfg
	c.Getenv = func(string) string { return "" }
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), c, args, &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestLogAndTraceOfTheLocalLog(t *testing.T) {
	stateDir := localLog(t)
	dir, _ := filepath.Abs(eventlog.LocalDir(stateDir))
	mask := func(s string) string { return strings.ReplaceAll(s, dir, "STATE/eventlog") }

	code, out, errOut := local("log", "notes/n1", "--state-dir", stateDir)
	if code != 0 {
		t.Fatalf("log: exit %d: %s", code, errOut)
	}
	golden(t, "log.golden", mask(out))

	code, out, errOut = local("trace", "req-1", "--state-dir", stateDir)
	if code != 0 {
		t.Fatalf("trace: exit %d: %s", code, errOut)
	}
	golden(t, "trace.golden", mask(out))

	// The tree in JSON: the update is under the run that wrote it.
	code, out, _ = local("trace", "req-1", "--state-dir", stateDir, "--json")
	var tr struct {
		Changes, Deliveries, Pushes int
		Nodes                       []struct {
			Kind     string
			Children []struct {
				Kind     string
				Delivery *eventlog.Delivery
				Children []struct {
					Kind   string
					Change *eventlog.Change
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &tr); code != 0 || err != nil {
		t.Fatalf("trace --json: exit %d, %v\n%s", code, err, out)
	}
	if tr.Changes != 2 || tr.Deliveries != 3 || tr.Pushes != 5 || len(tr.Nodes) != 1 || len(tr.Nodes[0].Children) != 5 {
		t.Fatalf("trace tree %+v", tr)
	}
	run := tr.Nodes[0].Children[4]
	if run.Delivery == nil || run.Delivery.Attempt != 2 || len(run.Children) != 1 || run.Children[0].Change.ID != "ev-2" {
		t.Fatalf("the update is not under the second attempt: %+v", run)
	}

	code, out, _ = local("log", "notes/n1", "--state-dir", stateDir, "--json")
	var h struct {
		Item    string
		Changes []struct {
			ID         string
			Deliveries []eventlog.Delivery
			Pushes     []eventlog.Push
		}
	}
	if err := json.Unmarshal([]byte(out), &h); code != 0 || err != nil || h.Item != "notes/n1" || len(h.Changes) != 2 ||
		len(h.Changes[0].Deliveries) != 2 || len(h.Changes[1].Pushes) != 2 {
		t.Fatalf("log --json: exit %d, %v: %+v", code, err, h)
	}
}

func TestLogCommandLineErrors(t *testing.T) {
	stateDir := localLog(t)
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"log", "orders/o1", "--state-dir", stateDir}, 2, `table "orders" is not declared`},
		{[]string{"log", "notes", "--state-dir", stateDir}, 2, "want TABLE/KEY"},
		{[]string{"log", "notes/n1", "--state-dir", filepath.Join(stateDir, "nope")}, 1, "no local event log"},
		{[]string{"trace", "unknown", "--state-dir", stateDir}, 0, ""},
		{[]string{"replay", "--state-dir", stateDir}, 2, "one of --restore, --redeliver, --digest"},
		{[]string{"replay", "--restore", "--state-dir", stateDir}, 2, "--restore needs a target"},
		{[]string{"replay", "--redeliver", "--state-dir", stateDir}, 2, "--redeliver needs --route"},
		{[]string{"replay", "--redeliver", "--route", "index-notes", "--since", "yesterday", "--state-dir", stateDir}, 2, `time "yesterday"`},
		{[]string{"replay", "--redeliver", "--route", "nope", "--dry-run", "--state-dir", stateDir}, 2, `no route "nope"`},
	} {
		code, out, errOut := local(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, out, errOut, tt.code, tt.msg)
		}
	}
}

// A dry redelivery lists the events the route's pattern matches.
func TestReplayDryRun(t *testing.T) {
	stateDir := localLog(t)
	code, out, errOut := local("replay", "--redeliver", "--route", "index-notes", "--dry-run", "--state-dir", stateDir)
	// The route takes kind a or b with an old kind other than a: ev-2
	// (c -> b); not ev-1, an insert of kind c.
	if code != 0 || out != "would send 1 of 2 logged changes to route index-notes\n  ev-2\n" {
		t.Fatalf("exit %d, %q, %s", code, out, errOut)
	}
}
