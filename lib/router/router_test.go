package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	os.Exit(code)
}

const testARN = "arn:aws:dynamodb:us-east-1:123456789012:table/app-orders/stream/2024-11-24T00:00:00.000"

// fakeBus is a PutEvents client whose answers a test chooses.
type fakeBus struct {
	mu    sync.Mutex
	calls [][]ebtypes.PutEventsRequestEntry
	// attempts counts PutEvents sightings of each event id.
	attempts map[string]int
	// published holds the ids of entries answered with success.
	published map[string]bool
	// fail decides an entry's fate on one attempt: "" for success, an
	// error code otherwise.
	fail func(id string, attempt int) string
	// callErr fails a whole call.
	callErr func(call int) error
}

func newFakeBus() *fakeBus {
	return &fakeBus{attempts: map[string]int{}, published: map[string]bool{}}
}

func (f *fakeBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in.Entries)
	if f.callErr != nil {
		if err := f.callErr(len(f.calls)); err != nil {
			return nil, err
		}
	}
	out := &eventbridge.PutEventsOutput{}
	for i, e := range in.Entries {
		ev, err := change.FromEventBridge(envelope(e))
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		f.attempts[ev.ID]++
		code := ""
		if f.fail != nil {
			code = f.fail(ev.ID, f.attempts[ev.ID])
		}
		if code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("chosen to fail")})
			continue
		}
		f.published[ev.ID] = true
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("eb-%d-%d", len(f.calls), i))})
	}
	return out, nil
}

// envelope is the body EventBridge would deliver for an entry.
func envelope(e ebtypes.PutEventsRequestEntry) string {
	return fmt.Sprintf(`{"id":"x","detail-type":%q,"source":%q,"detail":%s}`,
		aws.ToString(e.DetailType), aws.ToString(e.Source), aws.ToString(e.Detail))
}

// record makes a real-shaped INSERT stream record with an image of about
// pad bytes.
func record(i, pad int) events.DynamoDBEventRecord {
	img := map[string]events.DynamoDBAttributeValue{
		"id":            events.NewStringAttribute(fmt.Sprintf("ord-%d", i)),
		"status":        events.NewStringAttribute("PLACED"),
		"total":         events.NewNumberAttribute("123456789012345678901234567890.5"),
		"cents":         events.NewNumberAttribute("12345678901234567890123456789012345"),
		"correlationId": events.NewStringAttribute(fmt.Sprintf("req-%d", i)),
	}
	if pad > 0 {
		img["blob"] = events.NewStringAttribute(strings.Repeat("x", pad))
	}
	return events.DynamoDBEventRecord{
		EventID:        fmt.Sprintf("ev-%03d", i),
		EventName:      "INSERT",
		EventSource:    "aws:dynamodb",
		EventVersion:   "1.1",
		AWSRegion:      "us-east-1",
		EventSourceArn: testARN,
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: time.Unix(1732406400+int64(i), 0)},
			Keys:                        map[string]events.DynamoDBAttributeValue{"id": img["id"]},
			NewImage:                    img,
			SequenceNumber:              fmt.Sprintf("1000000000000000000%05d", i),
			SizeBytes:                   int64(100 + pad),
			StreamViewType:              "NEW_AND_OLD_IMAGES",
		},
	}
}

func batchOf(n, pad int) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	for i := range n {
		ev.Records = append(ev.Records, record(i, pad))
	}
	return ev
}

func newRouter(t *testing.T, client putEventsAPI, logs *bytes.Buffer) *Router {
	t.Helper()
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	r, err := New(Config{
		Client: client, BusName: "app-bus", Source: "app.changes",
		Tables:      map[string]string{"app-orders": "orders"},
		Logger:      slog.New(slog.NewJSONHandler(logs, nil)),
		MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func failures(resp events.DynamoDBEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func TestHandle(t *testing.T) {
	seq := func(i int) string { return record(i, 0).Change.SequenceNumber }
	tests := []struct {
		name    string
		records int
		fail    func(id string, attempt int) string
		callErr func(call int) error
		mangle  func(*events.DynamoDBEvent)
		// want is the reported failure (sequence number), "" for none.
		want string
		// published lists the records that must be on the bus; no other
		// record may be.
		published []int
	}{
		{name: "all published", records: 12, published: seq012(12)},
		{name: "transient entry failure is retried", records: 5,
			fail: func(id string, attempt int) string {
				if id == "ev-002" && attempt < 3 {
					return "ThrottlingException"
				}
				return ""
			},
			published: seq012(5)},
		{name: "entry that keeps failing is reported", records: 6,
			fail: func(id string, _ int) string {
				if id == "ev-003" {
					return "InternalFailure"
				}
				return ""
			},
			want: seq(3), published: []int{0, 1, 2, 4, 5}},
		{name: "earliest of several failures is reported", records: 8,
			fail: func(id string, _ int) string {
				if id == "ev-005" || id == "ev-002" || id == "ev-007" {
					return "InternalFailure"
				}
				return ""
			},
			want: seq(2), published: []int{0, 1, 3, 4, 6}},
		{name: "failed call is retried", records: 11,
			callErr: func(call int) error {
				if call <= 2 {
					return errors.New("connection reset")
				}
				return nil
			},
			published: seq012(11)},
		{name: "call that keeps failing fails every entry", records: 3,
			callErr: func(int) error { return errors.New("service unavailable") },
			want:    seq(0)},
		{name: "unknown table is reported", records: 4,
			mangle: func(ev *events.DynamoDBEvent) {
				ev.Records[1].EventSourceArn = strings.Replace(testARN, "app-orders", "other", 1)
			},
			want: seq(1), published: []int{0}},
		{name: "unconvertible record is reported", records: 4,
			mangle: func(ev *events.DynamoDBEvent) {
				ev.Records[2].Change.NewImage["total"] = events.NewNumberAttribute("not-a-number")
			},
			want: seq(2), published: []int{0, 1}},
		{name: "bad ARN is reported", records: 2,
			mangle: func(ev *events.DynamoDBEvent) { ev.Records[0].EventSourceArn = "nonsense" },
			want:   seq(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := newFakeBus()
			bus.fail, bus.callErr = tt.fail, tt.callErr
			ev := batchOf(tt.records, 0)
			if tt.mangle != nil {
				tt.mangle(&ev)
			}
			resp, err := newRouter(t, bus, nil).Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			got := failures(resp)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("failures %v, want none", got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Errorf("failures %v, want [%s]", got, tt.want)
			}
			for _, i := range tt.published {
				if !bus.published[fmt.Sprintf("ev-%03d", i)] {
					t.Errorf("record %d not published", i)
				}
			}
			if len(bus.published) != len(tt.published) {
				t.Errorf("%d records published, want %v", len(bus.published), tt.published)
			}
			for id, n := range bus.attempts {
				if n > 4 {
					t.Errorf("%s attempted %d times, max 4", id, n)
				}
			}
		})
	}
}

func seq012(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Whatever fails, the response never acknowledges a record that is not
// on the bus: every record before the reported one was published, and
// with nothing reported every record was.
func TestNeverAcknowledgesUnpublished(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		bus := newFakeBus()
		failP := rng.Float64()
		bus.fail = func(string, int) string {
			if rng.Float64() < failP {
				return "InternalFailure"
			}
			return ""
		}
		bus.callErr = func(int) error {
			if rng.IntN(8) == 0 {
				return errors.New("timeout")
			}
			return nil
		}
		ev := batchOf(1+rng.IntN(30), 0)
		resp, err := newRouter(t, bus, nil).Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		acked := len(ev.Records)
		if f := failures(resp); len(f) > 0 {
			if len(f) != 1 {
				t.Fatalf("seed %d: %d failures reported, want the earliest only", seed, len(f))
			}
			acked = -1
			for i, r := range ev.Records {
				if r.Change.SequenceNumber == f[0] {
					acked = i
				}
			}
			if acked < 0 {
				t.Fatalf("seed %d: reported %s is not in the batch", seed, f[0])
			}
			if bus.published[ev.Records[acked].EventID] {
				// Allowed only if it really failed: a published record
				// reported failed is a wasted redelivery, not a loss, but
				// it means the earliest failure was missed.
				t.Errorf("seed %d: reported record %d was published", seed, acked)
			}
		}
		for i := 0; i < acked; i++ {
			if !bus.published[ev.Records[i].EventID] {
				t.Fatalf("seed %d: record %d acknowledged but never published", seed, i)
			}
		}
	}
}

func TestBatchingLimits(t *testing.T) {
	tests := []struct {
		name      string
		records   int
		pad       int
		wantCalls int
	}{
		{"count limit", 25, 0, 3},
		{"size limit", 9, 100 * 1024, 5}, // two ~100 KiB entries per call
		{"one per call", 4, 200 * 1024, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := newFakeBus()
			resp, err := newRouter(t, bus, nil).Handle(context.Background(), batchOf(tt.records, tt.pad))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("resp %+v, err %v", resp, err)
			}
			if len(bus.calls) != tt.wantCalls {
				t.Errorf("%d calls, want %d", len(bus.calls), tt.wantCalls)
			}
			total := 0
			for i, call := range bus.calls {
				size := 0
				for _, e := range call {
					size += EntrySize(e)
					if aws.ToString(e.EventBusName) != "app-bus" || aws.ToString(e.Source) != "app.changes" ||
						aws.ToString(e.DetailType) != topology.DetailType || e.Time == nil {
						t.Errorf("entry %+v", e)
					}
				}
				if len(call) > MaxEntriesPerCall || size > MaxCallSize {
					t.Errorf("call %d: %d entries, %d bytes", i, len(call), size)
				}
				total += len(call)
			}
			if total != tt.records {
				t.Errorf("%d entries sent, want %d", total, tt.records)
			}
		})
	}
}

func TestOversizedChangeIsReducedAndLogged(t *testing.T) {
	bus := newFakeBus()
	var logs bytes.Buffer
	ev := batchOf(3, 0)
	ev.Records[1] = record(1, 300*1024)
	resp, err := newRouter(t, bus, &logs).Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	var found bool
	for _, call := range bus.calls {
		for _, e := range call {
			got, err := change.FromEventBridge(envelope(e))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != "ev-001" {
				if got.Reduced {
					t.Errorf("%s reduced", got.ID)
				}
				continue
			}
			found = true
			if !got.Reduced || got.New != nil || string(got.Keys) != `{"id":"ord-1"}` || !got.Has("blob") || got.CorrelationID != "req-1" {
				t.Errorf("oversized change published as %+v", got)
			}
		}
	}
	if !found {
		t.Fatal("oversized change not published")
	}
	var warned bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["level"] == "WARN" && m["eventId"] == "ev-001" && m["table"] == "orders" && m["size"].(float64) > MaxCallSize {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning with id, table and size:\n%s", logs.String())
	}
}

func TestContextDoneStopsRetries(t *testing.T) {
	bus := newFakeBus()
	bus.fail = func(string, int) string { return "InternalFailure" }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := newRouter(t, bus, nil).Handle(ctx, batchOf(3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); len(got) != 1 || got[0] != record(0, 0).Change.SequenceNumber {
		t.Errorf("failures %v", got)
	}
	if len(bus.calls) != 0 {
		t.Errorf("%d calls after the context ended, want none", len(bus.calls))
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "no EventBridge client") || !strings.Contains(err.Error(), "no tables") {
		t.Errorf("New(Config{}) = %v", err)
	}
	top := topology.Topology{App: "shop", Tables: []topology.Table{
		{Name: "orders", Stream: true}, {Name: "carts", Stream: true}, {Name: "menus"},
	}}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, err := ConfigFromEnv(top, getenv); err == nil || !strings.Contains(err.Error(), topology.EnvEventBus) || !strings.Contains(err.Error(), "TABLE_ORDERS") {
		t.Errorf("missing env: %v", err)
	}
	env[topology.EnvEventBus] = "shop-bus"
	env[topology.TableEnv("orders")] = "Stack-Orders-1X2Y"
	env[topology.TableEnv("carts")] = "Stack-Carts-9Z"
	cfg, err := ConfigFromEnv(top, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BusName != "shop-bus" || cfg.Source != "shop.changes" || len(cfg.Tables) != 2 ||
		cfg.Tables["Stack-Orders-1X2Y"] != "orders" || cfg.Tables["Stack-Carts-9Z"] != "carts" {
		t.Errorf("cfg %+v", cfg)
	}
}

// deadlineBus records the deadline of each call's context and fails the
// call as a hanging one would when its context ends.
type deadlineBus struct {
	mu        sync.Mutex
	deadlines []time.Time
}

func (b *deadlineBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	dl, _ := ctx.Deadline()
	b.mu.Lock()
	b.deadlines = append(b.deadlines, dl)
	b.mu.Unlock()
	return nil, context.DeadlineExceeded
}

// Calls end before the invocation deadline, leaving time to report the
// batch's failures rather than time out the whole invocation.
func TestCallsEndBeforeInvocationDeadline(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	bus := &deadlineBus{}
	resp, err := newRouter(t, bus, nil).Handle(ctx, batchOf(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); len(got) != 1 || got[0] != record(0, 0).Change.SequenceNumber {
		t.Errorf("failures %v", got)
	}
	if len(bus.deadlines) != 4 {
		t.Errorf("%d calls, want 4 attempts", len(bus.deadlines))
	}
	for _, dl := range bus.deadlines {
		if !dl.Equal(deadline.Add(-500 * time.Millisecond)) {
			t.Errorf("call deadline %s, want the invocation's less 500ms (%s)", dl, deadline.Add(-500*time.Millisecond))
		}
	}
}

// A restore's writes (change.RestoreAttribute set or removed) are not
// published: the changes they restore were published when they happened.
// The app's writes around them are.
func TestRestoreWritesAreNotPublished(t *testing.T) {
	bus := newFakeBus()
	var logs bytes.Buffer
	r := newRouter(t, bus, &logs)
	ev := batchOf(4, 0)
	marked := ev.Records[1].Change.NewImage
	marked[change.RestoreAttribute] = events.NewStringAttribute("restore-1/1")
	// The restore's second write: the same item without the marker.
	second := record(2, 0)
	second.EventName = "MODIFY"
	second.Change.OldImage = map[string]events.DynamoDBAttributeValue{}
	for k, v := range second.Change.NewImage {
		second.Change.OldImage[k] = v
	}
	second.Change.OldImage[change.RestoreAttribute] = events.NewStringAttribute("restore-1/2")
	ev.Records[2] = second
	resp, err := r.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	if len(bus.published) != 2 || !bus.published["ev-000"] || !bus.published["ev-003"] {
		t.Fatalf("published %v, want ev-000 and ev-003 only", bus.published)
	}
	if !strings.Contains(logs.String(), `"restoreWrites":2`) || !strings.Contains(logs.String(), `"redelivered":0`) {
		t.Errorf("batch log line does not count the restore's writes: %s", logs.String())
	}
}
