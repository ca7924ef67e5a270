package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime/wsproto"
	"github.com/threefactor/framework/lib/replay"
	"github.com/threefactor/framework/tests/harness"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// ownDev is cmd/dev on the long-lived emulator of its own state
// directory, as make dev runs it.
type ownDev struct {
	*devStack
	stateDir string
	aws      aws.Config
}

func startOwnDev(t *testing.T, stateDir string, env ...string) *ownDev {
	t.Helper()
	d := harness.StartDevWith(t, harness.DevOptions{Addr: harness.FreeAddr(t), StateDir: stateDir, OwnEmulator: true, Env: env})
	ep, err := os.ReadFile(filepath.Join(stateDir, "moto.endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := emulator.Config(context.Background(), strings.TrimSpace(string(ep)))
	if err != nil {
		t.Fatal(err)
	}
	s := &devStack{Dev: d, url: "http://" + d.Addr + "/graphql", log: d.Log, token: d.Token(t, devissuer.Options{})}
	return &ownDev{devStack: s, stateDir: stateDir, aws: cfg}
}

// request runs one GraphQL operation with extra headers and returns the
// response's headers.
func (s *devStack) request(ctx context.Context, headers map[string]string, query string, vars map[string]any, out any) (http.Header, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Errors) > 0 {
		return resp.Header, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return resp.Header, json.Unmarshal(r.Data, out)
}

// threefactorCLI runs the command line in-process, as on a laptop where
// no AWS endpoint or profile is set: it finds the local environment.
func threefactorCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), cli.Config{App: fooddelivery.App, Getenv: func(string) string { return "" }}, args, &out, &errb)
	if code != 0 {
		t.Fatalf("threefactor %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// chargesOf counts the provider ledger's charges per order.
func chargesOf(t *testing.T, cfg aws.Config) map[string]int {
	t.Helper()
	db := dynamodb.NewFromConfig(cfg)
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(fooddelivery.App.Topology().TableName(fooddelivery.Charges)), ConsistentRead: aws.Bool(true)})
	counts := map[string]int{}
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var cs []struct {
			OrderID string `dynamodbav:"orderId"`
		}
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &cs); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			counts[c.OrderID]++
		}
	}
	return counts
}

func openLocalLog(t *testing.T, stateDir string) *eventlog.FileStore {
	t.Helper()
	r, err := eventlog.OpenFileReader(eventlog.LocalDir(stateDir), eventlog.FileConfig{Topology: fooddelivery.App.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// history is an item's logged changes with their deliveries and pushes.
func history(t *testing.T, l eventlog.Log, id string) ([]eventlog.Change, map[string]eventlog.EventRecord) {
	t.Helper()
	item, err := eventlog.ParseItemKey(fooddelivery.App.Topology(), "orders/"+id)
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.ItemHistory(context.Background(), item)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]eventlog.EventRecord{}
	for _, c := range h {
		r, err := l.Event(context.Background(), c.ID)
		if err != nil && !errors.Is(err, eventlog.ErrNotFound) {
			t.Fatal(err)
		}
		recs[c.ID] = r
	}
	return h, recs
}

var (
	maskTime     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	maskOffset   = regexp.MustCompile(`\+\d+\.\d{3}s`)
	maskDuration = regexp.MustCompile(`\(\d+(\.\d)?ms\)|over \d+\.\d{3}s`)
	maskHex      = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	maskIDs      = regexp.MustCompile(`\b(ord|ch|pi|driver)[_-][0-9A-Za-z]+`)
	maskConn     = regexp.MustCompile(`connection [^\s:]+ subscription [^\s:]+`)
	maskPushes   = regexp.MustCompile(`\d+ pushes`)
	maskLong     = regexp.MustCompile(`[\[{"][^\n]*…`)
	maskLogDir   = regexp.MustCompile(`\(log: [^)]*\)`)
)

// masked is the CLI's output with what changes from run to run replaced:
// times, durations, ids, long values cut at a length that depends on
// them.
func masked(s, correlationID string) string {
	s = strings.ReplaceAll(s, correlationID, "<correlation>")
	s = maskLong.ReplaceAllString(s, "<long value>")
	s = maskTime.ReplaceAllString(s, "<time>")
	s = maskOffset.ReplaceAllString(s, "+<t>")
	s = maskDuration.ReplaceAllString(s, "<duration>")
	s = maskHex.ReplaceAllString(s, "<id>")
	s = maskIDs.ReplaceAllStringFunc(s, func(m string) string { return m[:strings.IndexAny(m, "_-")+1] + "<id>" })
	s = maskConn.ReplaceAllString(s, "connection <conn> subscription <sub>")
	s = maskPushes.ReplaceAllString(s, "<n> pushes")
	// VALIDATED is pushed by the fan-out or, when it committed while the
	// subscription was catching up after its snapshot, by the catch-up.
	s = strings.ReplaceAll(s, "catch-up push ", "push ")
	return maskLogDir.ReplaceAllString(s, "(log: <dir>)")
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./tests -run %s -update rewrites it):\n%s", path, t.Name(), got)
	}
}

// dropInsertPush removes the push of the order's first change from the
// output: the subscription can only be made once the order exists, so
// whether the fan-out saw it in time for the insert is a race (the
// history checks every other push).
func dropInsertPush(s string, log bool) string {
	var out []string
	inInsert := false
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, " INSERT ") {
			inInsert = true
		} else if strings.Contains(line, " MODIFY ") || (log && line == "") {
			inInsert = false
		}
		if inInsert && strings.Contains(line, " push ") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// snapshotStatus reads up to subscription id's first push, its snapshot,
// skipping the pushes of the connection's earlier subscriptions, and
// returns the order's status in it.
func snapshotStatus(t *testing.T, ws *wsClient, id string) string {
	t.Helper()
	for {
		m := ws.read()
		if m.Type != wsproto.Next {
			t.Fatalf("got %s %s, want the snapshot of %s", m.Type, m.Payload, id)
		}
		if m.ID != id {
			continue
		}
		var p struct {
			Data struct{ OrderUpdated order }
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		return p.Data.OrderUpdated.Status
	}
}

// The reference workflow, from placeOrder to DRIVER_ASSIGNED, with a
// subscriber, then the event log put to work: log and trace show the
// whole chain; a second emulator restored from the log holds the same
// tables; an order caught mid-workflow when the emulator stops finishes,
// once, when make dev starts again and restores the state from the log;
// redelivering a whole workflow's events changes nothing.
func TestEventLogWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	topo := fooddelivery.App.Topology()
	stateDir := filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() { _ = emulator.StopRecorded(stateDir) })
	s := startOwnDev(t, stateDir)

	// Place an order with a correlation id of the client's, subscribe to
	// it, pay, and follow it to its driver. orderUpdated starts with a
	// snapshot and every later change follows it, so a snapshot that
	// reads PLACED means every one of the order's changes is pushed.
	ws := wsConnect(t, s.devStack)
	var (
		a      order
		corrID string
	)
	for attempt := 0; ; attempt++ {
		corrID = fmt.Sprintf("golden-%d-%d", time.Now().UnixNano(), attempt)
		var out struct{ PlaceOrder order }
		hdr, err := s.request(ctx, map[string]string{"X-Correlation-Id": corrID},
			`mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { `+orderSelection+` } }`,
			map[string]any{"in": map[string]any{"restaurantId": "r-pizza", "items": []any{item("margherita", 2), item("tiramisu", 1)}}}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if got := hdr.Get("X-Correlation-Id"); got != corrID {
			t.Fatalf("X-Correlation-Id %q in the response, want the request's %q", got, corrID)
		}
		a = out.PlaceOrder
		id := fmt.Sprintf("w%d", attempt)
		ws.send(fmt.Sprintf(`{"id":%q,"type":"subscribe","payload":{"query":%q,"variables":{"id":%q}}}`, id, watchOrder, a.ID))
		if snapshotStatus(t, ws, id) == "PLACED" {
			break
		}
		if attempt == 9 {
			t.Fatal("every snapshot of 10 orders read VALIDATED already")
		}
	}
	a, err := s.waitFor(ctx, a.ID, "VALIDATED")
	if err != nil {
		t.Fatal(err)
	}
	// A trace places a change under the function run whose time span
	// holds its commit, give or take the clock slack: the payment waits
	// until validate-order's run is logged and well over, so that the
	// golden trace shows it as the mutation it is.
	l := openLocalLog(t, stateDir)
	harness.WaitFor(t, time.Minute, "validate-order's run logged", func() bool {
		h, recs := history(t, l, a.ID)
		if len(h) == 0 {
			return false
		}
		for _, d := range recs[h[0].ID].Deliveries {
			if d.Route == "validate-order" {
				time.Sleep(time.Until(d.At.Add(time.Duration(d.DurationMs*float64(time.Millisecond)) + 4*cli.ClockSlack)))
				return true
			}
		}
		return false
	})
	// A request without X-Correlation-Id gets one back.
	var paid struct{ PayOrder order }
	hdr, err := s.request(ctx, nil, `mutation($in: PayOrderInput!) { payOrder(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"orderId": a.ID, "amountCents": a.TotalCents}}, &paid)
	if err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("X-Correlation-Id"); got == "" {
		t.Fatal("no X-Correlation-Id in the response of a request that sent none")
	}
	if a, err = s.waitFor(ctx, a.ID, "DRIVER_ASSIGNED"); err != nil {
		t.Fatal(err)
	}

	// The log catches up: six changes, each route's delivery, every push
	// but possibly the insert's.
	var changes []eventlog.Change
	var recs map[string]eventlog.EventRecord
	deliveries, pushes := 0, 0
	defer func() {
		if t.Failed() {
			t.Logf("the log held %d changes, %d deliveries and %d pushes of order %s", len(changes), deliveries, pushes, a.ID)
			for _, c := range changes {
				t.Logf("  %s: %d pushes, %d deliveries", c.ID, len(recs[c.ID].Pushes), len(recs[c.ID].Deliveries))
			}
		}
	}()
	harness.WaitFor(t, 2*time.Minute, "the workflow logged (6 changes, 4 deliveries, 5 pushes)", func() bool {
		changes, recs = history(t, l, a.ID)
		deliveries, pushes = 0, 0
		for _, c := range changes[1:] {
			pushes += len(recs[c.ID].Pushes)
		}
		for _, r := range recs {
			deliveries += len(r.Deliveries)
		}
		return len(changes) == 6 && deliveries == 4 && pushes == 5
	})
	for _, c := range changes {
		for _, p := range recs[c.ID].Pushes {
			if p.Outcome != eventlog.Pushed || p.CorrelationID != corrID || p.CausedBy != "alice" {
				t.Errorf("push %+v", p)
			}
		}
		for _, d := range recs[c.ID].Deliveries {
			if d.Outcome != eventlog.OK || d.Attempt != 1 || d.CorrelationID != corrID || d.CausedBy != "alice" {
				t.Errorf("delivery %+v", d)
			}
		}
	}

	t.Run("log and trace", func(t *testing.T) {
		out := threefactorCLI(t, "log", "orders/"+a.ID, "--state-dir", stateDir)
		checkGolden(t, "eventlog-log.golden", dropInsertPush(masked(out, corrID), true))
		out = threefactorCLI(t, "trace", corrID, "--state-dir", stateDir)
		checkGolden(t, "eventlog-trace.golden", dropInsertPush(masked(out, corrID), false))
	})

	sourceDigest := threefactorCLI(t, "replay", "--digest", "--json", "--state-dir", stateDir)
	t.Run("restore into a second emulator", func(t *testing.T) {
		second, err := emulator.Start(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		out := threefactorCLI(t, "replay", "--restore", "--to-endpoint", second.Endpoint(), "--state-dir", stateDir)
		if !strings.Contains(out, "no function ran") {
			t.Errorf("restore said:\n%s", out)
		}
		target := threefactorCLI(t, "replay", "--digest", "--json", "--to-endpoint", second.Endpoint(), "--state-dir", stateDir)
		var src, dst replay.Digest
		_ = json.Unmarshal([]byte(sourceDigest), &src)
		_ = json.Unmarshal([]byte(target), &dst)
		if !src.Equal(dst) || len(dst.Tables) != 3 || dst.Tables["orders"].Items == 0 || dst.Tables["restaurants"].Items != 2 || dst.Tables["charges"].Items == 0 {
			t.Fatalf("digests differ:\nsource %s\ntarget %s", sourceDigest, target)
		}
	})

	// An order caught mid-workflow: the provider fails every time, so
	// its payment is retried when make dev stops and its emulator with
	// it.
	s.Stop(t)
	s2 := startOwnDev(t, stateDir, "PAYMENT_FAILURE_RATE=1")
	b, err := s2.placeOrder(ctx, "r-sushi", item("miso-soup", 2))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = s2.waitFor(ctx, b.ID, "VALIDATED"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.payOrder(ctx, b.ID, b.TotalCents); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 2*time.Minute, "the payment retried", func() bool {
		h, recs := history(t, l, b.ID)
		for _, c := range h {
			for _, d := range recs[c.ID].Deliveries {
				if d.Route == "process-payment" && d.Outcome == eventlog.Retry {
					return true
				}
			}
		}
		return false
	})
	s2.Stop(t)
	if out, err := exec.Command(harness.DevBinary(t), "-state-dir", stateDir, "-stop-emulator").CombinedOutput(); err != nil {
		t.Fatalf("-stop-emulator: %v\n%s", err, out)
	}
	aDeliveries := 0
	for _, r := range recs {
		aDeliveries += len(r.Deliveries) + len(r.Pushes)
	}

	// make dev again: the emulator is new and empty; the state comes
	// back from the log, and the payment completes, once.
	s3 := startOwnDev(t, stateDir)
	out := s3.Output(t)
	for _, want := range []string{"restoring the local state from the log", "no function ran for them", "delivering again to process-payment: 1 events"} {
		if !strings.Contains(out, want) {
			t.Fatalf("make dev did not say %q:\n%s", want, out)
		}
	}
	if b, err = s3.waitFor(ctx, b.ID, "DRIVER_ASSIGNED"); err != nil {
		t.Fatal(err)
	}
	if len(b.Payments) != 1 || b.Payments[0].AmountCents != b.TotalCents {
		t.Fatalf("order %s: payments %+v, want exactly one", b.ID, b.Payments)
	}
	if got := s3.mustOrder(t, a.ID); got.Status != "DRIVER_ASSIGNED" || len(got.Payments) != 1 {
		t.Fatalf("restored order %s: %+v", a.ID, got)
	}

	t.Run("redelivering a workflow changes nothing", func(t *testing.T) {
		sent := 0
		for _, r := range topo.Routes {
			out := threefactorCLI(t, "replay", "--redeliver", "--route", r.Name, "--key", "orders/"+a.ID, "--state-dir", stateDir)
			var n int
			fmt.Sscanf(out, "sent %d", &n)
			sent += n
		}
		if sent != 4 {
			t.Fatalf("redelivered %d events, want the workflow's 4", sent)
		}
		harness.WaitFor(t, 2*time.Minute, "every redelivery handled", func() bool {
			_, recs := history(t, l, a.ID)
			ok := 0
			for _, r := range recs {
				for _, d := range r.Deliveries {
					if d.Outcome == eventlog.OK {
						ok++
					}
				}
			}
			return ok == 8
		})
		after, recs := history(t, l, a.ID)
		if len(after) != 6 {
			t.Errorf("order %s has %d changes after the redelivery, want the 6 it had", a.ID, len(after))
		}
		total := 0
		for _, r := range recs {
			total += len(r.Deliveries) + len(r.Pushes)
		}
		// The restore ran nothing: the only new records are the four
		// redeliveries.
		if total != aDeliveries+4 {
			t.Errorf("order %s: %d deliveries and pushes, want %d (before the restore) + 4", a.ID, total, aDeliveries)
		}
		if got := s3.mustOrder(t, a.ID); got.Status != "DRIVER_ASSIGNED" || len(got.Payments) != 1 {
			t.Fatalf("order %s after redelivering its workflow: %+v", a.ID, got)
		}
		if c := chargesOf(t, s3.aws); c[a.ID] != 1 || c[b.ID] != 1 {
			t.Fatalf("charges %v, want one for %s and one for %s", c, a.ID, b.ID)
		}
	})
}
