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

func message(id, b string) events.SQSMessage {
	return events.SQSMessage{
		MessageId: "msg-" + id, ReceiptHandle: "rh-" + id, Body: b,
		Attributes:     map[string]string{"ApproximateReceiveCount": "2"},
		EventSource:    "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:app-route",
	}
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
			sqsErr:  errors.New("AccessDenied"), failed: true, outcome: OutcomeRetry},
		{name: "permanent without a DLQ is retried", body: body("e1", `"VALIDATED"`),
			handler: func(ctx context.Context, c change.Change[order]) error { return errs.Permanent(errors.New("bad")) },
			noDLQ:   true, failed: true, outcome: OutcomeRetry},
		{name: "malformed body goes to the DLQ", body: `{"hello":`,
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered},
		{name: "not a change event goes to the DLQ", body: `{"id":"x","detail-type":"OrderPlaced","detail":{}}`,
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered},
		{name: "image not decodable into T goes to the DLQ", body: body("e1", `42`),
			handler: func(ctx context.Context, c change.Change[order]) error { t.Error("handler ran"); return nil },
			dlq:     true, outcome: OutcomeDeadLettered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dlq := &fakeSQS{err: tt.sqsErr}
			var logs bytes.Buffer
			cfg := Config{Function: "validateorder", Route: "validate-order", DLQURL: "https://sqs/dlq", SQS: dlq,
				Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(&logs, nil)))}
			if tt.noDLQ {
				cfg.DLQURL, cfg.SQS = "", nil
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
				if strings.HasPrefix(tt.body, "{\"version\"") && attr(AttrEventID) != "e1" {
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
			if strings.HasPrefix(tt.body, "{\"version\"") && (l["eventId"] != "e1" || l["correlationId"] != "req-e1") {
				t.Errorf("log line without event or correlation id: %v", l)
			}
			if tt.outcome == OutcomePanic && !strings.Contains(fmt.Sprint(l["stack"]), "consumer_test.go") {
				t.Errorf("panic logged without stack: %v", l)
			}
		})
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
			}, Config{Function: "f", DLQURL: "dlq", SQS: dlq, Concurrency: conc, Logger: slog.New(slog.DiscardHandler)})
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
	}, Config{Function: "f", Route: "r", SafetyMargin: 3 * time.Second, Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(&logs, nil)))})
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
	if _, err := NewEvent(func(context.Context, change.Event) error { return nil }, Config{DLQURL: "x"}); err == nil {
		t.Error("DLQURL without a client accepted")
	}
	if _, err := NewEvent(nil, Config{}); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := New[order](nil, Config{}); err == nil {
		t.Error("nil typed handler accepted")
	}
	topo := topology.Topology{App: "shop", Functions: []topology.Function{{Name: "validateorder"}}}
	env := map[string]string{"ROUTE_NAME": "validate-order", "DLQ_URL": "http://localhost/q/dlq"}
	if cfg, err := ConfigFromEnv(topo, "validateorder", func(k string) string { return env[k] }); err != nil || cfg.Function != "validateorder" || cfg.Route != "validate-order" || cfg.DLQURL != "http://localhost/q/dlq" {
		t.Errorf("ConfigFromEnv = %+v, %v", cfg, err)
	}
	if _, err := ConfigFromEnv(topo, "other", func(string) string { return "" }); err == nil {
		t.Error("ConfigFromEnv of an undeclared function accepted")
	}
}
