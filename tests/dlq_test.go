package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/harness"
)

// dlqCLI runs the command line of app a in-process, on the
// emulator AWS_ENDPOINT_URL names.
func dlqCLI(t *testing.T, a app.App, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), cli.Config{App: a}, append(args, "--state-dir", t.TempDir()), &out, &errb)
	return code, out.String(), errb.String()
}

// TestPoisonMessageRedrivenAfterTheFix is the dead-letter workflow: a bug
// makes assign-driver fail two orders permanently; their messages reach
// the route's dead-letter queue, and the event log has each delivery as
// dead-lettered with its reason; `threefactor dlq list` shows the orders
// and the reason; `dlq drop --id` removes one for good; the fix is
// deployed (the fault switched off); `dlq redrive` sends the other back
// and its order gets its driver, paid once; the dropped one stays put.
func TestPoisonMessageRedrivenAfterTheFix(t *testing.T) {
	var fault atomic.Bool
	fault.Store(true)
	a := faultyApp("fdpoison", &fault)
	s := devapptest.Start(t, a)
	c := stackClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var orders [2]order
	for i := range orders {
		o, err := placeAndPay(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if orders[i], err = c.waitFor(ctx, o.ID, "APPROVED"); err != nil {
			t.Fatal(err)
		}
	}
	redriven, dropped := orders[0], orders[1]
	dlqURL := s.RT.Resources().Routes["assign-driver"].DLQURL
	sq := sqs.NewFromConfig(s.RT.AWS())
	harness.WaitFor(t, time.Minute, "the poison messages in assign-driver's dead-letter queue", func() bool {
		return harness.Depth(t, sq, dlqURL) == 2
	})

	code, out, errOut := dlqCLI(t, a, "dlq", "list", "assign-driver")
	if code != 0 {
		t.Fatalf("dlq list: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"assign-driver -> assigndriver: 2 message(s) in fdpoison-assign-driver-dlq\n",
		" MODIFY orders/" + redriven.ID + " (correlation ",
		" MODIFY orders/" + dropped.ID + " (correlation ",
		"    function  assigndriver\n",
		"    failed    permanently at attempt 1; dead-lettered by the function ",
		"    reason    FAILED_PRECONDITION: no driver can be assigned: the dispatch zone of r-pizza is not configured\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq list lacks %q:\n%s", want, out)
		}
	}
	// The event log has the same story: each order's APPROVED change was
	// dead-lettered by assign-driver, with the reason.
	for _, o := range orders {
		deadLettered(t, s, a, o.ID)
	}

	// drop --id takes the message's event id, as list --json gives it.
	code, out, errOut = dlqCLI(t, a, "dlq", "list", "assign-driver", "--json")
	var listing struct {
		Routes []struct {
			Messages []dlq.Message `json:"messages"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(out), &listing); code != 0 || err != nil || len(listing.Routes) != 1 {
		t.Fatalf("dlq list --json: exit %d, %v: %s%s", code, err, out, errOut)
	}
	var dropID string
	for _, m := range listing.Routes[0].Messages {
		if m.Item == "orders/"+dropped.ID {
			dropID = m.EventID
		}
	}
	if dropID == "" {
		t.Fatalf("no message of orders/%s in %s", dropped.ID, out)
	}
	code, out, errOut = dlqCLI(t, a, "dlq", "drop", "assign-driver", "--id", dropID, "--yes")
	if code != 0 || out != "dropped 1 message(s) of assign-driver\n" {
		t.Fatalf("dlq drop: exit %d: %s%s", code, out, errOut)
	}
	if d := harness.Depth(t, sq, dlqURL); d != 1 {
		t.Fatalf("%d message(s) in the dead-letter queue after the drop, want 1", d)
	}
	// Redriving before the fix only puts it back in the dead-letter queue.
	if got, _ := c.order(ctx, redriven.ID); got.Status != "APPROVED" {
		t.Fatalf("order %s is %s while the fault is on", redriven.ID, got.Status)
	}

	fault.Store(false) // the fix is deployed
	code, out, errOut = dlqCLI(t, a, "dlq", "redrive", "assign-driver", "--all")
	if code != 0 || out != "redrove 1 message(s) of assign-driver to fdpoison-assign-driver (received, sent, deleted)\n" {
		t.Fatalf("dlq redrive: exit %d: %s%s", code, out, errOut)
	}
	done, err := c.waitFor(ctx, redriven.ID, "DRIVER_ASSIGNED")
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, done) // one payment
	code, out, _ = dlqCLI(t, a, "dlq", "list", "assign-driver")
	if code != 0 || out != "assign-driver -> assigndriver: fdpoison-assign-driver-dlq is empty\n" {
		t.Errorf("after the redrive: exit %d: %s", code, out)
	}
	// The dropped order was not run again.
	if got, _ := c.order(ctx, dropped.ID); got.Status != "APPROVED" {
		t.Errorf("dropped order %s is %s, want it left APPROVED", dropped.ID, got.Status)
	}
}

// deadLettered waits for the event log to show assign-driver's delivery
// of the order's APPROVED change as dead-lettered, with the reason.
func deadLettered(t *testing.T, s *devapptest.Stack, a app.App, orderID string) {
	t.Helper()
	key, err := eventlog.ParseItemKey(a.Topology(), "orders/"+orderID)
	if err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, time.Minute, "orders/"+orderID+"'s dead-lettered delivery in the event log", func() bool {
		changes, err := s.EventLog.ItemHistory(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range changes {
			rec, err := s.EventLog.Event(context.Background(), ch.ID)
			if err != nil {
				continue
			}
			for _, d := range rec.Deliveries {
				if d.Route == "assign-driver" && d.Outcome == eventlog.DeadLettered && strings.Contains(d.Error, errDispatch.Message) {
					return true
				}
			}
		}
		return false
	})
}

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// threefactorBinary builds ./cmd/threefactor once per test binary.
func threefactorBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "threefactor-cli")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "threefactor")
		cmd := exec.Command("go", "build", "-o", cliBin, "./cmd/threefactor")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ./cmd/threefactor: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// TestRedriveKilledMidwayLosesNothing kills `threefactor dlq redrive`
// (kill -9) while it moves 400 dead letters back to their queue: every
// message is then in the queue, the dead-letter queue or both (a
// duplicate, never a loss), and a second redrive finishes the job. `dlq
// drop` without a terminal and without --yes refuses.
func TestRedriveKilledMidwayLosesNothing(t *testing.T) {
	bin := threefactorBinary(t)
	cfg := emulatortest.Config(t)
	ctx := context.Background()
	topo := fooddelivery.App.Topology()
	res, err := provision.Apply(ctx, cfg, topo)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Routes["assign-driver"]
	sq := sqs.NewFromConfig(cfg)
	purge := func() {
		for _, u := range []string{r.QueueURL, r.DLQURL} {
			if _, err := sq.PurgeQueue(context.Background(), &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Errorf("purge %s: %v", u, err)
			}
		}
	}
	purge()
	// No function of this test may run them: leave both queues empty.
	t.Cleanup(purge)

	const n = 400
	want := make([]string, n)
	for start := 0; start < n; start += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := start; i < start+10; i++ {
			want[i] = fmt.Sprintf("kill-%03d", i)
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i - start)), MessageBody: aws.String(eventBody(t, want[i])),
				// As the consumer dead-letters a message.
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					consumer.AttrReason:   {DataType: aws.String("String"), StringValue: aws.String("FAILED_PRECONDITION: " + errDispatch.Message)},
					consumer.AttrEventID:  {DataType: aws.String("String"), StringValue: aws.String(want[i])},
					consumer.AttrFunction: {DataType: aws.String("String"), StringValue: aws.String("assigndriver")},
				},
			})
		}
		if _, err := sq.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(r.DLQURL), Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}

	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir() // its own (empty) .dev: AWS_ENDPOINT_URL names the emulator
		return cmd
	}
	t.Logf("PHASE %s", time.Now().Format("15:04:05.000"))
	// Without a terminal to confirm on, drop refuses and drops nothing.
	drop := run("dlq", "drop", "assign-driver", "--all")
	drop.Stdin = strings.NewReader("y\n")
	out, err := drop.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stdin is not a terminal to confirm on: pass --yes to drop without asking") {
		t.Fatalf("drop without a terminal: %v\n%s", err, out)
	}
	if d := harness.Depth(t, sq, r.DLQURL); d != n {
		t.Fatalf("%d dead letters after the refused drop, want %d", d, n)
	}

	t.Logf("PHASE %s", time.Now().Format("15:04:05.000"))
	redrive := run("dlq", "redrive", "assign-driver", "--all", "--hold", "2s")
	var stderr bytes.Buffer
	redrive.Stderr = &stderr
	if err := redrive.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- redrive.Wait() }()
	// Kill it as soon as the queue got its first messages.
	harness.WaitFor(t, time.Minute, "the redrive's first sends", func() bool { return queued(t, sq, r.QueueURL) > 0 })
	if err := redrive.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatalf("the redrive finished before it was killed: nothing was tested (stderr %s)", stderr.String())
	}
	t.Logf("PHASE %s", time.Now().Format("15:04:05.000"))
	// What it held comes back after its hold.
	harness.WaitFor(t, time.Minute, "the killed redrive's messages visible again", func() bool {
		return inFlight(t, sq, r.DLQURL) == 0
	})
	t.Logf("PHASE %s", time.Now().Format("15:04:05.000"))
	inQueue := takeIDs(t, sq, r.QueueURL)
	left := dlqIDs(t, res)
	if len(inQueue) >= n {
		t.Fatalf("all %d messages were redriven before the kill: nothing was tested", len(inQueue))
	}
	seen := map[string]int{}
	for _, id := range inQueue {
		seen[id]++
	}
	dups := 0
	for _, id := range left {
		if seen[id] > 0 {
			dups++
		}
		seen[id]++
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("event %s was lost", id)
		}
	}
	t.Logf("killed after %d sends: %d left in the dead-letter queue, %d in both", len(inQueue), len(left), dups)

	t.Logf("PHASE %s", time.Now().Format("15:04:05.000"))
	// A second redrive finishes the job.
	second, err := run("dlq", "redrive", "assign-driver", "--all").CombinedOutput()
	if err != nil || string(second) != fmt.Sprintf("redrove %d message(s) of assign-driver to fooddelivery-assign-driver (received, sent, deleted)\n", len(left)) {
		t.Fatalf("second redrive: %v: %s", err, second)
	}
	t.Logf("PHASE %s", time.Now().Format("15:04:05.000"))
	for _, id := range takeIDs(t, sq, r.QueueURL) {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("event %s never reached the queue", id)
		}
	}
	if d := harness.Depth(t, sq, r.DLQURL); d != 0 {
		t.Errorf("%d messages left in the dead-letter queue", d)
	}
}

// eventBody is a change event of an order, as EventBridge delivers it.
func eventBody(t *testing.T, id string) string {
	t.Helper()
	e := change.Event{
		ID: id, Table: fooddelivery.Orders, Operation: topology.Modify,
		Keys: json.RawMessage(`{"id":"ord_` + id + `"}`), Old: json.RawMessage(`{"id":"ord_` + id + `","status":"PAID"}`),
		New: json.RawMessage(`{"id":"ord_` + id + `","status":"APPROVED"}`), Changed: []string{"status"},
		SequenceNumber: "100000000000000000001", ApproximateAt: time.Now().UTC(),
	}
	d, err := e.Detail()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "evb-" + id, "detail-type": topology.DetailType, "source": "fooddelivery.changes", "detail": json.RawMessage(d)})
	return string(b)
}

func queueAttrs(t *testing.T, sq *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := sq.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"},
	})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inFlight
}

func queued(t *testing.T, sq *sqs.Client, url string) int {
	v, f := queueAttrs(t, sq, url)
	return v + f
}

func inFlight(t *testing.T, sq *sqs.Client, url string) int {
	_, f := queueAttrs(t, sq, url)
	return f
}

// takeIDs receives and deletes every message of a queue and returns
// their change event ids, duplicates included.
func takeIDs(t *testing.T, sq *sqs.Client, url string) []string {
	t.Helper()
	var ids []string
	for {
		out, err := sq.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return ids
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			ids = append(ids, harness.Event(t, m).ID)
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := sq.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
			t.Fatal(err)
		}
	}
}

// dlqIDs lists the event ids in assign-driver's dead-letter queue,
// leaving the messages there.
func dlqIDs(t *testing.T, res *provision.Resources) []string {
	t.Helper()
	c, err := dlq.New(dlq.Config{SQS: sqs.NewFromConfig(emulatortest.Config(t)), Topology: fooddelivery.App.Topology(), Queues: dlq.FromResources(res), Logger: harness.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := c.List(context.Background(), "assign-driver", dlq.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.EventID)
	}
	return ids
}
