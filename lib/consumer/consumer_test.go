package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	os.Exit(code)
}

type order struct {
	ID     string      `json:"id"`
	Status string      `json:"status"`
	Total  json.Number `json:"total"`
}

// body is an SQS message body as an EventBridge rule delivers a change.
func body(id, status string) string {
	return fmt.Sprintf(`{"version":"0","id":"eb-%s","detail-type":"Change","source":"app.changes","time":"2026-11-23T10:00:00Z","region":"us-east-1","resources":[],"detail":`+
		`{"id":%q,"table":"orders","operation":"MODIFY","keys":{"id":"ord-1"},"old":{"id":"ord-1","status":"PLACED"},"new":{"id":"ord-1","status":%s,"total":123456789012345678901234567890.5},`+
		`"changed":["status"],"sequenceNumber":"100","approximateCreationTime":"2026-11-23T10:00:00Z","correlationId":"req-%s","causedBy":"user-%s"}}`, id, id, status, id, id)
}

// Queue ARNs of the test routes, as SQS messages name their queue.
const (
	validateQueueARN = "arn:aws:sqs:us-east-1:123456789012:app-validate-order"
	recheckQueueARN  = "arn:aws:sqs:us-east-1:123456789012:app-recheck-order"
)

// message is an SQS message of the validate-order route's queue, as the
// event source mapping delivers it.
func message(id, b string) events.SQSMessage {
	return events.SQSMessage{
		MessageId: "msg-" + id, ReceiptHandle: "rh-" + id, Body: b,
		Attributes:     map[string]string{"ApproximateReceiveCount": "2"},
		EventSource:    "aws:sqs",
		EventSourceARN: validateQueueARN,
		AWSRegion:      "us-east-1",
	}
}

// validateRoute is the route of message's queue, dead-lettering to dlq.
func validateRoute(dlq string) []Route {
	return []Route{{Name: "validate-order", QueueARN: validateQueueARN, DLQURL: dlq}}
}

// fakeSQS records dead-lettered messages; err fails every send.
type fakeSQS struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
	err  error
}

func (f *fakeSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("dlq-1")}, nil
}

type logLine map[string]any

func parseLogs(t *testing.T, b *bytes.Buffer) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m logLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHandleOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		handler Handler[order]
		sqsErr  error
		noDLQ   bool
		// failed: the message is reported for redelivery.
		failed bool
		// dlq: the message was sent to the dead-letter queue.
		dlq     bool
		outcome string
		code    string
		// reason is part of the dead-letter reason.
		reason string
	}{
		{name: "ok", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error { return nil },
			outcome: OutcomeOK},
		{name: "error is retried", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error { return errors.New("db timeout") },
			failed:  true, outcome: OutcomeRetry},
		{name: "unavailable is retried", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error {
				return errs.Wrap(errs.Unavailable, "payment provider down", errors.New("503"))
			},
			failed: true, outcome: OutcomeRetry},
		{name: "panic fails the message", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error { panic("nil map") },
			failed:  true, outcome: OutcomePanic},
		{name: "permanent goes to the DLQ", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error {
				return errs.New(errs.FailedPrecondition, "restaurant closed")
			},
			dlq: true, outcome: OutcomeDeadLettered, code: "FAILED_PRECONDITION"},
		{name: "errs.Permanent goes to the DLQ", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error {
				return fmt.Errorf("validate: %w", errs.Permanent(errors.New("unknown item")))
			},
			dlq: true, outcome: OutcomeDeadLettered, code: "FAILED_PRECONDITION"},
		{name: "DLQ send failure keeps the message", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error { return errs.Permanent(errors.New("bad")) },
			sqsErr:  errors.New("AccessDenied"), failed: true, outcome: OutcomePermanent},
		{name: "permanent without a DLQ is retried", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error { return errs.Permanent(errors.New("bad")) },
			noDLQ:   true, failed: true, outcome: OutcomePermanent},
		{name: "truncated body goes to the DLQ", body: `{"hello":`,
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered, code: "FAILED_PRECONDITION",
			reason: "malformed change event: unexpected end of JSON input at offset 9"},
		{name: "body not JSON goes to the DLQ", body: `not json`,
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered, reason: "malformed change event: body is not a JSON object"},
		{name: "invalid JSON inside an image goes to the DLQ", body: strings.Replace(body("e1", `"PAID"`), `"total":`, `"total":+`, 1),
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered, reason: "malformed change event: invalid character '+' looking for beginning of value"},
		{name: "not a change event goes to the DLQ", body: `{"id":"x","detail-type":"OrderPlaced","detail":{}}`,
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered, reason: `detail-type "OrderPlaced"`},
		{name: "detail without keys goes to the DLQ", body: `{"id":"x","detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"INSERT"}}`,
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered, reason: "change e1 has no keys object"},
		{name: "image not decodable into T goes to the DLQ", body: body("e1", `42`),
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered, reason: "decode images: event e1: new image: json: cannot unmarshal number into Go struct field order.status of type string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dlq := &fakeSQS{err: tt.sqsErr}
			// readable: the body is a change event, with ids to report.
			readable := strings.HasPrefix(tt.body, "{\"version\"") && !strings.Contains(tt.reason, "malformed")
			var logs bytes.Buffer
			deliveries := &deliveryLog{}
			cfg := Config{Function: "validateorder", Routes: validateRoute("https://sqs/dlq"), SQS: dlq,
				Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(&logs, nil))), Deliveries: deliveries}
			if tt.noDLQ {
				cfg.Routes, cfg.SQS = validateRoute(""), nil
			}
			c, err := New(tt.handler, cfg)
			if err != nil {
				t.Fatal(err)
			}
			msg := message("e1", tt.body)
			resp, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{msg}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(resp.BatchItemFailures) == 1 && resp.BatchItemFailures[0].ItemIdentifier == "msg-e1"; got != tt.failed {
				t.Errorf("failures %+v, want failed=%v", resp.BatchItemFailures, tt.failed)
			}
			if tt.dlq != (len(dlq.sent) == 1) {
				t.Fatalf("dead-lettered %d messages, want %v", len(dlq.sent), tt.dlq)
			}
			if tt.dlq {
				in := dlq.sent[0]
				if aws.ToString(in.QueueUrl) != "https://sqs/dlq" || aws.ToString(in.MessageBody) != tt.body {
					t.Errorf("sent %s to %s", aws.ToString(in.MessageBody), aws.ToString(in.QueueUrl))
				}
				attr := func(n string) string { return aws.ToString(in.MessageAttributes[n].StringValue) }
				if attr(AttrReason) == "" || attr(AttrFunction) != "validateorder" || attr(AttrRoute) != "validate-order" ||
					attr(AttrSourceMessageID) != "msg-e1" || attr(AttrReceiveCount) != "2" {
					t.Errorf("attributes %v", in.MessageAttributes)
				}
				if tt.code != "" && attr(AttrCode) != tt.code {
					t.Errorf("code %q, want %q", attr(AttrCode), tt.code)
				}
				if !strings.Contains(attr(AttrReason), tt.reason) {
					t.Errorf("reason %q, want it to contain %q", attr(AttrReason), tt.reason)
				}
				if readable && attr(AttrEventID) != "e1" {
					t.Errorf("eventId attribute %q", attr(AttrEventID))
				}
			}
			lines := parseLogs(t, &logs)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1:\n%s", len(lines), logs.String())
			}
			l := lines[0]
			if l["outcome"] != tt.outcome || l["function"] != "validateorder" || l["route"] != "validate-order" ||
				l["messageId"] != "msg-e1" || l["attempt"] != float64(2) || l["durationMs"] == nil {
				t.Errorf("log line %v", l)
			}
			if tt.outcome != OutcomeOK && l["error"] == nil {
				t.Errorf("log line without error: %v", l)
			}
			if readable && (l["eventId"] != "e1" || l["correlationId"] != "req-e1") {
				t.Errorf("log line without event or correlation id: %v", l)
			}
			if tt.outcome == OutcomePanic && !strings.Contains(fmt.Sprint(l["stack"]), "consumer_test.go") {
				t.Errorf("panic logged without stack: %v", l)
			}
			// The attempt is recorded in the event log, with the same
			// outcome; a body that is no change event has no event to
			// record it under.
			ds := deliveries.all()
			if !readable {
				if len(ds) != 0 {
					t.Errorf("recorded %+v for a message that is no change event", ds)
				}
				return
			}
			if len(ds) != 1 {
				t.Fatalf("recorded %d deliveries, want 1", len(ds))
			}
			d := ds[0]
			if d.EventID != "e1" || d.Route != "validate-order" || d.Function != "validateorder" || d.Attempt != 2 ||
				string(d.Outcome) != tt.outcome || d.MessageID != "msg-e1" || d.CorrelationID != "req-e1" || d.CausedBy != "user-e1" ||
				d.At.IsZero() || d.DurationMs < 0 {
				t.Errorf("delivery %+v", d)
			}
			if (tt.outcome == OutcomeOK) != (d.Error == "") {
				t.Errorf("delivery error %q for outcome %s", d.Error, tt.outcome)
			}
			if tt.code != "" && string(d.Code) != tt.code {
				t.Errorf("delivery code %q, want %q", d.Code, tt.code)
			}
		})
	}
}

// deliveryLog records the delivery records a consumer writes.
type deliveryLog struct {
	mu    sync.Mutex
	ds    []eventlog.Delivery
	calls int
	err   error
	block chan struct{}
}

func (l *deliveryLog) WriteDeliveries(ctx context.Context, ds ...eventlog.Delivery) error {
	if l.block != nil {
		select {
		case <-l.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.err != nil {
		return l.err
	}
	l.ds = append(l.ds, ds...)
	return nil
}

func (l *deliveryLog) all() []eventlog.Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]eventlog.Delivery(nil), l.ds...)
}

// The receive after which SQS's redrive moves a failing message is
// recorded as its dead-lettering; the earlier ones as retries.
func TestLastReceiveIsRecordedDeadLettered(t *testing.T) {
	for _, tt := range []struct {
		attempt int
		want    string
	}{{1, OutcomeRetry}, {2, OutcomeRetry}, {3, OutcomeDeadLettered}, {4, OutcomeDeadLettered}} {
		deliveries := &deliveryLog{}
		routes := []Route{{Name: "validate-order", QueueARN: validateQueueARN, MaxReceiveCount: 3}}
		c, err := New(func(context.Context, change.Change[order]) error { return errors.New("provider down") },
			Config{Function: "validateorder", Routes: routes, Deliveries: deliveries, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		msg := message("e1", body("e1", `"VALIDATED"`))
		msg.Attributes["ApproximateReceiveCount"] = fmt.Sprint(tt.attempt)
		resp, _ := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{msg}})
		ds := deliveries.all()
		if len(resp.BatchItemFailures) != 1 || len(ds) != 1 || string(ds[0].Outcome) != tt.want || ds[0].Error != "provider down" || ds[0].Attempt != tt.attempt {
			t.Errorf("attempt %d: failures %d, deliveries %+v; want a failure recorded %s", tt.attempt, len(resp.BatchItemFailures), ds, tt.want)
		}
	}
}

// A batch's records are one write; a failing or hanging log never
// changes the messages' outcomes, and is waited on only so long.
func TestDeliveryRecordsAreBestEffort(t *testing.T) {
	newConsumer := func(l *deliveryLog, timeout time.Duration) *Consumer {
		c, err := New(func(_ context.Context, ch change.Change[order]) error {
			if ch.ID == "e2" {
				return errors.New("transient")
			}
			return nil
		}, Config{Function: "f", Routes: validateRoute(""), Deliveries: l, DeliveryLogTimeout: timeout, Concurrency: 3, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var ev events.SQSEvent
	for _, id := range []string{"e1", "e2", "e3"} {
		ev.Records = append(ev.Records, message(id, body(id, `"VALIDATED"`)))
	}
	ok := &deliveryLog{}
	resp, _ := newConsumer(ok, 0).Handle(context.Background(), ev)
	if ok.calls != 1 || len(ok.all()) != 3 || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("%d writes of %d records, %d failures; want 1 write of 3, 1 failure", ok.calls, len(ok.all()), len(resp.BatchItemFailures))
	}
	for _, d := range ok.all() {
		if want := map[string]eventlog.Outcome{"e1": eventlog.OK, "e2": eventlog.Retry, "e3": eventlog.OK}[d.EventID]; d.Outcome != want {
			t.Errorf("%s recorded %s, want %s", d.EventID, d.Outcome, want)
		}
	}

	failing := &deliveryLog{err: errors.New("table missing")}
	resp, _ = newConsumer(failing, 0).Handle(context.Background(), ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "msg-e2" {
		t.Fatalf("a failing delivery log changed the outcomes: %+v", resp.BatchItemFailures)
	}

	hanging := &deliveryLog{block: make(chan struct{})}
	defer close(hanging.block)
	start := time.Now()
	resp, _ = newConsumer(hanging, 50*time.Millisecond).Handle(context.Background(), ev)
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("a hanging delivery log changed the outcomes: %+v", resp.BatchItemFailures)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("Handle waited %s on a hanging delivery log", waited)
	}
}

func TestBatchFailsOnlyFailingMessages(t *testing.T) {
	for _, conc := range []int{1, 3} {
		t.Run(fmt.Sprint("concurrency ", conc), func(t *testing.T) {
			dlq := &fakeSQS{}
			c, err := New(func(ctx context.Context, ch change.Change[order]) error {
				switch ch.ID {
				case "e2", "e5":
					return errors.New("transient")
				case "e3":
					panic("boom")
				case "e4":
					return errs.Permanent(errors.New("never"))
				}
				return nil
			}, Config{Function: "f", Routes: validateRoute("dlq"), SQS: dlq, Concurrency: conc, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			var ev events.SQSEvent
			for i := range 7 {
				id := fmt.Sprintf("e%d", i)
				ev.Records = append(ev.Records, message(id, body(id, `"PAID"`)))
			}
			resp, err := c.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range resp.BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			if want := []string{"msg-e2", "msg-e3", "msg-e5"}; !reflect.DeepEqual(got, want) {
				t.Errorf("failures %v, want %v", got, want)
			}
			if len(dlq.sent) != 1 || !strings.Contains(aws.ToString(dlq.sent[0].MessageBody), `"id":"e4"`) {
				t.Errorf("dead-lettered %d", len(dlq.sent))
			}
		})
	}
}

func TestHandlerContext(t *testing.T) {
	deadline := time.Now().Add(20 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var logs bytes.Buffer
	var seen struct {
		deadline    time.Time
		correlation string
		subject     string
		msg         Message
		item        *order
	}
	c, err := New(func(ctx context.Context, ch change.Change[order]) error {
		seen.deadline, _ = ctx.Deadline()
		seen.correlation = correlation.From(ctx)
		seen.subject = correlation.Subject(ctx)
		seen.msg, _ = MessageFrom(ctx)
		seen.item = ch.NewItem
		Logger(ctx).InfoContext(ctx, "from the handler")
		return nil
	}, Config{Function: "f", Routes: []Route{{Name: "r", QueueARN: validateQueueARN}}, SafetyMargin: 3 * time.Second, Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(&logs, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{message("e9", body("e9", `"PAID"`))}}); err != nil {
		t.Fatal(err)
	}
	lines := parseLogs(t, &logs)
	if len(lines) != 2 {
		t.Fatalf("%d log lines", len(lines))
	}
	if l := lines[0]; l["msg"] != "from the handler" || l["function"] != "f" || l["route"] != "r" || l["eventId"] != "e9" ||
		l["messageId"] != "msg-e9" || l["attempt"] != float64(2) || l["correlationId"] != "req-e9" || l["subject"] != "user-e9" {
		t.Errorf("handler's log line %v", l)
	}
	if !seen.deadline.Equal(deadline.Add(-3 * time.Second)) {
		t.Errorf("handler deadline %s, want %s", seen.deadline, deadline.Add(-3*time.Second))
	}
	if seen.correlation != "req-e9" || seen.subject != "user-e9" {
		t.Errorf("correlation %q, subject %q", seen.correlation, seen.subject)
	}
	if seen.msg.EventID != "e9" || seen.msg.MessageID != "msg-e9" || seen.msg.Attempt != 2 || seen.msg.Function != "f" || seen.msg.Route != "r" {
		t.Errorf("message %+v", seen.msg)
	}
	if seen.item == nil || seen.item.Status != "PAID" || seen.item.Total != "123456789012345678901234567890.5" {
		t.Errorf("item %+v", seen.item)
	}
}

// With little time left the margin shrinks to a quarter of it, so the
// handler still gets most of what remains.
func TestHandlerContextShortDeadline(t *testing.T) {
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var got time.Time
	c, _ := NewEvent(func(ctx context.Context, e change.Event) error {
		got, _ = ctx.Deadline()
		return nil
	}, Config{SafetyMargin: 10 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if _, err := c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{message("e1", body("e1", `"PAID"`))}}); err != nil {
		t.Fatal(err)
	}
	if !got.Before(deadline.Add(-14*time.Minute)) || got.Before(deadline.Add(-16*time.Minute)) {
		t.Errorf("handler deadline %s for invocation deadline %s", got, deadline)
	}
}

// A handler that overruns its deadline fails its message.
func TestHandlerDeadlineExceeded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	c, _ := NewEvent(func(ctx context.Context, e change.Event) error {
		<-ctx.Done()
		return ctx.Err()
	}, Config{SafetyMargin: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	resp, err := c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{message("e1", body("e1", `"PAID"`))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	const limit = 3
	var running, peak atomic.Int32
	// Each handler waits until `limit` run at once, so the test shows both
	// that they do run concurrently and that no more than limit do.
	ready := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := NewEvent(func(ctx context.Context, e change.Event) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == limit {
			once.Do(func() { close(ready) })
		}
		select {
		case <-ready:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, Config{Concurrency: limit, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	for i := range 10 {
		id := fmt.Sprint("e", i)
		ev.Records = append(ev.Records, message(id, body(id, `"PAID"`)))
	}
	resp, err := c.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v (handlers never ran %d at once)", resp, err, limit)
	}
	if p := peak.Load(); p != limit {
		t.Errorf("peak concurrency %d, want %d", p, limit)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var trace []string
	mw := func(name string) Middleware {
		return func(next EventHandler) EventHandler {
			return func(ctx context.Context, e change.Event) error {
				trace = append(trace, name+">")
				err := next(ctx, e)
				trace = append(trace, "<"+name)
				return err
			}
		}
	}
	c, err := New(func(ctx context.Context, ch change.Change[order]) error {
		trace = append(trace, "handler")
		return nil
	}, Config{Middleware: []Middleware{mw("a"), mw("b")}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message("e1", body("e1", `"PAID"`))}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a>", "b>", "handler", "<b", "<a"}; !reflect.DeepEqual(trace, want) {
		t.Errorf("trace %v, want %v", trace, want)
	}
}

func TestConfig(t *testing.T) {
	ok := func(context.Context, change.Event) error { return nil }
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"DLQ without a client", Config{Routes: validateRoute("x")}, "route validate-order has a dead-letter queue but there is no SQS client"},
		{"route without a name", Config{Routes: []Route{{QueueARN: validateQueueARN}}}, "route 0 has no name"},
		{"route without a queue", Config{Routes: []Route{{Name: "r"}}}, "route r has no queue ARN"},
		{"two routes, one queue", Config{Routes: []Route{{Name: "a", QueueARN: "q"}, {Name: "b", QueueARN: "q"}}}, "routes a and b name the same queue q"},
		{"negative concurrency", Config{Concurrency: -1}, "negative concurrency"},
	} {
		if _, err := NewEvent(ok, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewEvent(nil, Config{}); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := New[order](nil, Config{}); err == nil {
		t.Error("nil typed handler accepted")
	}
}

// twoRoutes is an app whose "validate" function is fed by two routes and
// whose "audit" function by one.
var twoRoutes = topology.Topology{
	App:    "app",
	Tables: []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
	Functions: []topology.Function{
		{Name: "validate", Tables: []string{"orders"}},
		{Name: "audit"},
		{Name: "idle"},
	},
	Routes: []topology.Route{
		{Name: "validate-order", Function: "validate", Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Insert}}},
		{Name: "audit-all", Function: "audit", Match: topology.Match{Table: "orders"}},
		{Name: "recheck-order", Function: "validate", Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Modify}}},
	},
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"ROUTE_VALIDATE_ORDER_QUEUE_ARN": validateQueueARN,
		"ROUTE_VALIDATE_ORDER_DLQ_URL":   "http://sqs/validate-dlq",
		"ROUTE_RECHECK_ORDER_QUEUE_ARN":  recheckQueueARN,
		"ROUTE_RECHECK_ORDER_DLQ_URL":    "http://sqs/recheck-dlq",
		"ROUTE_AUDIT_ALL_QUEUE_ARN":      "arn:aws:sqs:us-east-1:123456789012:app-audit-all",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := ConfigFromEnv(twoRoutes, "validate", getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Function: "validate", Routes: []Route{
		{Name: "validate-order", QueueARN: validateQueueARN, DLQURL: "http://sqs/validate-dlq", MaxReceiveCount: 5},
		{Name: "recheck-order", QueueARN: recheckQueueARN, DLQURL: "http://sqs/recheck-dlq", MaxReceiveCount: 5},
	}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ConfigFromEnv = %+v, want %+v", cfg, want)
	}
	if err := cfg.Validate(); err == nil {
		t.Error("the caller must set SQS: a config without it should not validate")
	}

	for _, tt := range []struct {
		name, function string
		unset          []string
		want           string
	}{
		{"missing variables", "validate", []string{"ROUTE_VALIDATE_ORDER_DLQ_URL", "ROUTE_RECHECK_ORDER_QUEUE_ARN"},
			"consumer: function validate: environment variables not set: ROUTE_VALIDATE_ORDER_DLQ_URL, ROUTE_RECHECK_ORDER_QUEUE_ARN"},
		{"missing DLQ", "audit", nil, "environment variables not set: ROUTE_AUDIT_ALL_DLQ_URL"},
		{"unknown function", "nosuch", nil, `function "nosuch" is not in the topology`},
		{"function no route feeds", "idle", nil, `no route feeds function "idle"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConfigFromEnv(twoRoutes, tt.function, func(k string) string {
				if slices.Contains(tt.unset, k) {
					return ""
				}
				return env[k]
			})
			if err == nil || err.Error() != tt.want && !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Each message belongs to the route its queue ARN names: a permanent
// failure goes to that route's dead-letter queue with that route's name,
// whichever route came first; a message from a queue of no route is left
// on it, unhandled.
func TestRouteOfEachMessage(t *testing.T) {
	dlq := &fakeSQS{}
	var logs bytes.Buffer
	var seen []Message
	c, err := New(func(ctx context.Context, ch change.Change[order]) error {
		m, _ := MessageFrom(ctx)
		seen = append(seen, m)
		if ch.NewItem.Status == "BAD" {
			return errs.New(errs.BadUserInput, "bad order")
		}
		return nil
	}, Config{Function: "validate", SQS: dlq, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Routes: []Route{
		{Name: "validate-order", QueueARN: validateQueueARN, DLQURL: "http://sqs/validate-dlq", MaxReceiveCount: 5},
		{Name: "recheck-order", QueueARN: recheckQueueARN, DLQURL: "http://sqs/recheck-dlq", MaxReceiveCount: 5},
	}})
	if err != nil {
		t.Fatal(err)
	}
	from := func(arn string, m events.SQSMessage) events.SQSMessage { m.EventSourceARN = arn; return m }
	resp, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		from(recheckQueueARN, message("r1", body("r1", `"BAD"`))),
		from(validateQueueARN, message("v1", body("v1", `"BAD"`))),
		from(recheckQueueARN, message("r2", body("r2", `"PAID"`))),
		from("arn:aws:sqs:us-east-1:123456789012:someone-elses", message("x1", body("x1", `"PAID"`))),
		from("", message("x2", body("x2", `"BAD"`))),
		from(validateQueueARN, message("v2", `{"oops"`)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !reflect.DeepEqual(got, []string{"msg-x1", "msg-x2"}) {
		t.Errorf("failures %v, want the two messages of no route", got)
	}
	var routes []string
	for _, m := range seen {
		routes = append(routes, m.MessageID+"@"+m.Route)
	}
	if want := []string{"msg-r1@recheck-order", "msg-v1@validate-order", "msg-r2@recheck-order"}; !reflect.DeepEqual(routes, want) {
		t.Errorf("handled %v, want %v", routes, want)
	}
	sent := map[string]string{}
	for _, in := range dlq.sent {
		id := aws.ToString(in.MessageAttributes[AttrSourceMessageID].StringValue)
		sent[id] = aws.ToString(in.QueueUrl) + " " + aws.ToString(in.MessageAttributes[AttrRoute].StringValue)
	}
	want := map[string]string{
		"msg-r1": "http://sqs/recheck-dlq recheck-order",
		"msg-v1": "http://sqs/validate-dlq validate-order",
		"msg-v2": "http://sqs/validate-dlq validate-order",
	}
	if !reflect.DeepEqual(sent, want) {
		t.Errorf("dead-lettered %v, want %v", sent, want)
	}
	lines := parseLogs(t, &logs)
	if len(lines) != 6 {
		t.Fatalf("%d log lines, want 6", len(lines))
	}
	for _, l := range lines {
		switch l["messageId"] {
		case "msg-x1", "msg-x2":
			if l["outcome"] != OutcomeRetry || l["level"] != "ERROR" || l["route"] != nil || l["eventId"] == "" ||
				!strings.Contains(fmt.Sprint(l["error"]), "feeds none of the routes of function validate (validate-order, recheck-order)") {
				t.Errorf("log line of a message of no route: %v", l)
			}
		case "msg-r1", "msg-r2":
			if l["route"] != "recheck-order" {
				t.Errorf("log line %v", l)
			}
		default:
			if l["route"] != "validate-order" {
				t.Errorf("log line %v", l)
			}
		}
	}
}

// Without routes, a consumer handles every message, whatever its queue.
func TestNoRoutesHandlesEveryQueue(t *testing.T) {
	var n int
	c, err := NewEvent(func(ctx context.Context, e change.Event) error {
		if m, _ := MessageFrom(ctx); m.Route != "" {
			t.Errorf("route %q", m.Route)
		}
		n++
		return nil
	}, Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := message("e1", body("e1", `"PAID"`))
	m.EventSourceARN = ""
	resp, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message("e2", body("e2", `"PAID"`)), m}})
	if err != nil || len(resp.BatchItemFailures) != 0 || n != 2 {
		t.Fatalf("resp %+v err %v handled %d", resp, err, n)
	}
}

func failures(resp events.SQSEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}
