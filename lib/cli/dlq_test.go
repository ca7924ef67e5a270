package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// notesEnv is the notes app provisioned on the test's emulator, as make
// dev provisions it. The dlq tests share it: they run one after another.
type notesEnv struct {
	res *provision.Resources
	sqs *sqs.Client
	ep  string
}

var (
	notesOnce sync.Once
	notesRes  *provision.Resources
	notesErr  error
)

func provisionNotes(t *testing.T) *notesEnv {
	t.Helper()
	cfg := emulatortest.Config(t)
	notesOnce.Do(func() { notesRes, notesErr = provision.Apply(context.Background(), cfg, notes.Topology()) })
	if notesErr != nil {
		t.Fatal(notesErr)
	}
	e := &notesEnv{res: notesRes, sqs: sqs.NewFromConfig(cfg), ep: emulatortest.Endpoint(t)}
	t.Cleanup(func() {
		// Leave the queues empty for the next test.
		for _, r := range notesRes.Routes {
			for _, u := range []string{r.QueueURL, r.DLQURL} {
				_, _ = e.sqs.PurgeQueue(context.Background(), &sqs.PurgeQueueInput{QueueUrl: aws.String(u)})
			}
		}
	})
	return e
}

func noteEvent(id string) change.Event {
	return change.Event{
		ID: id, Table: "notes", Operation: topology.Insert,
		Keys: json.RawMessage(`{"id":"n-` + id + `"}`), New: json.RawMessage(`{"id":"n-` + id + `","kind":"a"}`),
		SequenceNumber: "100000000000000000001", ApproximateAt: time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond),
		CorrelationID: "c-" + id,
	}
}

func envelope(t testing.TB, e change.Event) string {
	t.Helper()
	d, err := e.Detail()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "evb-" + e.ID, "detail-type": topology.DetailType, "source": "notes.changes", "detail": json.RawMessage(d)})
	return string(b)
}

// deadLetter has the real consumer of the route fail e permanently.
func (n *notesEnv) deadLetter(t *testing.T, route string, e change.Event, cause error) {
	t.Helper()
	r := n.res.Routes[route]
	c, err := consumer.NewEvent(func(context.Context, change.Event) error { return cause }, consumer.Config{
		Function: r.Function, SQS: n.sqs, Logger: slog.New(slog.DiscardHandler),
		Routes: []consumer.Route{{Name: route, QueueARN: r.QueueARN, DLQURL: r.DLQURL}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "src-" + e.ID, Body: envelope(t, e), EventSourceARN: r.QueueARN, Attributes: map[string]string{"ApproximateReceiveCount": "1"},
	}}})
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("not dead-lettered: %v %v", err, resp.BatchItemFailures)
	}
}

// moved puts e in the route's dead-letter queue the way the queue's
// redrive policy does: as it was, with no reason.
func (n *notesEnv) moved(t *testing.T, route string, e change.Event) {
	t.Helper()
	if _, err := n.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(n.res.Routes[route].DLQURL), MessageBody: aws.String(envelope(t, e))}); err != nil {
		t.Fatal(err)
	}
}

// localState is a state directory recording the emulator as make dev
// does, with AWS_ENDPOINT_URL unset: the command line's default target.
func localState(t *testing.T, ep string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "moto.endpoint"), []byte(ep+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", "")
	return dir
}

func TestDLQListLocal(t *testing.T) {
	n := provisionNotes(t)
	state := localState(t, n.ep)
	n.deadLetter(t, "index-notes", noteEvent("e1"), errs.Permanent(errs.New(errs.BadUserInput, "kind a needs a title")))
	n.moved(t, "drop-notes", noteEvent("e2"))
	// The dev runtime's event log has e2's failed deliveries.
	log, err := eventlog.OpenFileStore(eventlog.LocalDir(state), eventlog.FileConfig{Topology: notes.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := log.WriteDeliveries(ctx, eventlog.Delivery{EventID: "e2", Route: "drop-notes", Function: "index", Attempt: 3, Outcome: eventlog.Retry, Error: "search index unavailable", MessageID: "m", At: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	log.Close()

	code, out, errOut := threefactor("dlq", "list", "--state-dir", state)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"index-notes -> index: 1 message(s) in notes-index-notes-dlq\n",
		"    event     e1 INSERT notes/n-e1 (correlation c-e1)\n",
		"    function  index\n",
		"    failed    permanently at attempt 1; dead-lettered by the function ",
		"    reason    BAD_USER_INPUT: kind a needs a title\n",
		"drop-notes -> index: 1 message(s) in notes-drop-notes-dlq\n",
		"    event     e2 INSERT notes/n-e2 (correlation c-e2)\n",
		"    failed    3 attempt(s); moved by the queue's redrive policy\n",
		"    reason    search index unavailable\n",
		// 1m0s, or a second or two more on a loaded machine.
		"(the last failed delivery in the event log: attempt 3, retry, 1m",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq list lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = threefactor("dlq", "list", "index-notes", "--json", "--state-dir", state)
	var got struct {
		Where  string
		Routes []struct {
			Route, Function, DLQ string
			Visible              int
			Messages             []struct {
				ID, EventID, Item, Reason, Code, By string
				Attempts                            int
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, out, errOut)
	}
	if !strings.HasPrefix(got.Where, "the local emulator at "+n.ep) || len(got.Routes) != 1 || got.Routes[0].Route != "index-notes" ||
		got.Routes[0].Visible != 1 || len(got.Routes[0].Messages) != 1 {
		t.Fatalf("%+v", got)
	}
	m := got.Routes[0].Messages[0]
	if m.EventID != "e1" || m.Item != "notes/n-e1" || m.Code != "BAD_USER_INPUT" || m.By != "consumer" || m.Attempts != 1 || m.ID == "" {
		t.Errorf("%+v", m)
	}

	// No emulator recorded: a clear error.
	code, _, errOut = threefactor("dlq", "list", "--state-dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "no local emulator is running (none is recorded in ") || !strings.Contains(errOut, "start make dev") {
		t.Errorf("without an emulator: exit %d: %s", code, errOut)
	}
}

func TestDLQRedriveAndDrop(t *testing.T) {
	n := provisionNotes(t)
	state := localState(t, n.ep)
	for _, id := range []string{"a", "b", "c"} {
		n.deadLetter(t, "index-notes", noteEvent(id), errs.Permanent(errors.New("broken "+id)))
	}
	code, out, errOut := threefactor("dlq", "redrive", "index-notes", "--id", "a", "--state-dir", state)
	if code != 0 || out != "redrove 1 message(s) of index-notes to notes-index-notes (received, sent, deleted)\n" {
		t.Fatalf("redrive --id a: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = threefactor("dlq", "redrive", "index-notes", "--id", "zzz", "--state-dir", state)
	if code != 1 || !strings.Contains(out, "redrove 0 message(s)") || !strings.Contains(errOut, "NOT_FOUND: dlq: no such message: zzz") {
		t.Errorf("redrive --id zzz: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = threefactor("dlq", "drop", "index-notes", "--id", "b", "--yes", "--state-dir", state)
	if code != 0 || out != "dropped 1 message(s) of index-notes\n" {
		t.Fatalf("drop --id b: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = threefactor("dlq", "redrive", "index-notes", "--all", "--state-dir", state)
	if code != 0 || out != "redrove 1 message(s) of index-notes to notes-index-notes (received, sent, deleted)\n" {
		t.Fatalf("redrive --all: exit %d: %s%s", code, out, errOut)
	}
	// a and c are in the route's queue; nothing is left.
	got := map[string]int{}
	for {
		o, err := n.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(n.res.Routes["index-notes"].QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Messages) == 0 {
			break
		}
		for _, m := range o.Messages {
			e, err := change.FromEventBridge(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			got[e.ID]++
			_, _ = n.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(n.res.Routes["index-notes"].QueueURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(got) != 2 || got["a"] != 1 || got["c"] != 1 {
		t.Errorf("the queue got %v, want a and c once", got)
	}
	code, out, _ = threefactor("dlq", "list", "index-notes", "--state-dir", state)
	if code != 0 || out != "index-notes -> index: notes-index-notes-dlq is empty\n" {
		t.Errorf("after: exit %d: %s", code, out)
	}
}

func TestDLQBadCommandLines(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"dlq"}, 2, "say what: dlq drop, dlq list, dlq redrive"},
		{[]string{"dlq", "list", "a", "b"}, 2, "want [ROUTE], got 2 argument(s): a b"},
		{[]string{"dlq", "redrive"}, 2, "want ROUTE, got 0 argument(s)"},
		{[]string{"dlq", "redrive", "index-notes"}, 2, "say which messages: --id ID (repeat it) or --all"},
		{[]string{"dlq", "redrive", "index-notes", "--all", "--id", "x"}, 2, "--all or --id, not both"},
		{[]string{"dlq", "drop", "index-notes"}, 2, "say which messages"},
		{[]string{"dlq", "list", "--limit", "0"}, 2, "--limit 0: want 1 to 1000"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if tt.args[len(tt.args)-1] == "0" {
				provisionNotes(t)
			}
			code, out, errOut := threefactor(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", code, out, errOut, tt.code, tt.msg)
			}
		})
	}
	code, out, _ := threefactor("help", "dlq", "list")
	if code != 0 || !strings.Contains(out, "usage: threefactor dlq list [ROUTE] [--limit 100] [--json] [--state-dir .dev | --profile P [--stack S]]") ||
		!strings.Contains(out, "Otherwise a deployed stack (APP-STAGE, or --stack)") {
		t.Errorf("help dlq list: exit %d\n%s", code, out)
	}
	n := provisionNotes(t)
	state := localState(t, n.ep)
	if code, _, errOut := threefactor("dlq", "list", "nope", "--state-dir", state); code != 2 || !strings.Contains(errOut, `no route "nope": the routes are index-notes, drop-notes`) {
		t.Errorf("unknown route: exit %d: %s", code, errOut)
	}
}

// TestDLQOnAStack finds the queues and the event log through a stack's
// outputs, as on AWS (here a stack of the emulator's CloudFormation whose
// outputs name the provisioned queues and eventlog table).
func TestDLQOnAStack(t *testing.T) {
	n := provisionNotes(t)
	cfg := emulatortest.Config(t)
	ctx := context.Background()
	outputs := map[string]any{topology.OutputEventLogTable: map[string]any{"Value": n.res.Tables[topology.EventLogTable].Name}}
	for name, r := range n.res.Routes {
		outputs[topology.QueueOutput(name)] = map[string]any{"Value": r.QueueURL}
		outputs[topology.DLQOutput(name)] = map[string]any{"Value": r.DLQURL}
	}
	tmpl, _ := json.Marshal(map[string]any{
		"Resources": map[string]any{"Marker": map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{"QueueName": "notes-stack-marker"}}},
		"Outputs":   outputs,
	})
	cf := cloudformation.NewFromConfig(cfg)
	if _, err := cf.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("notes-dev"), TemplateBody: aws.String(string(tmpl))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cf.DeleteStack(context.Background(), &cloudformation.DeleteStackInput{StackName: aws.String("notes-dev")})
	})

	// The cloud event log has the moved message's failed delivery.
	l, err := eventlog.NewDynamoStore(dynamodb.NewFromConfig(cfg), eventlog.DynamoConfig{Table: n.res.Tables[topology.EventLogTable].Name, Topology: notes.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteDeliveries(ctx, eventlog.Delivery{EventID: "s1", Route: "index-notes", Function: "index", Attempt: 5, Outcome: eventlog.Panic, Error: "panic: boom", MessageID: "m", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n.moved(t, "index-notes", noteEvent("s1"))

	code, out, errOut := threefactor("dlq", "list", "index-notes", "--stack", "notes-dev")
	if code != 0 || !strings.Contains(out, "index-notes -> index: 1 message(s) in notes-index-notes-dlq\n") || !strings.Contains(out, "    reason    panic: boom\n") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = threefactor("dlq", "drop", "index-notes", "--all", "--yes", "--stack", "notes-dev")
	if code != 0 || out != "dropped 1 message(s) of index-notes\n" {
		t.Fatalf("drop: exit %d: %s%s", code, out, errOut)
	}
	code, _, errOut = threefactor("dlq", "list", "--stack", "no-such-stack")
	if code != 1 || !strings.Contains(errOut, "stack no-such-stack") {
		t.Errorf("no such stack: exit %d: %s", code, errOut)
	}
}
