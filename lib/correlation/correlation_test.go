package correlation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/threefactor/framework/lib/correlation"
)

func TestContextRoundTrip(t *testing.T) {
	ctx := correlation.With(context.Background(), "req-1")
	if got := correlation.From(ctx); got != "req-1" {
		t.Fatalf("got %q", got)
	}
	if got := correlation.From(context.Background()); got != "" {
		t.Fatalf("empty context gave %q", got)
	}
}

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123_x.y": true, "": false, "has space": false, "<script>": false,
		string(bytes.Repeat([]byte("a"), 128)): true, string(bytes.Repeat([]byte("a"), 129)): false,
	} {
		if got := correlation.Valid(id); got != want {
			t.Errorf("Valid(%q) = %v", id, got)
		}
	}
	if id := correlation.NewID(); len(id) != 32 || !correlation.Valid(id) {
		t.Fatalf("NewID %q", id)
	}
}

func TestSubjectRoundTrip(t *testing.T) {
	ctx := correlation.WithSubject(correlation.With(context.Background(), "req-1"), "alice")
	if correlation.Subject(ctx) != "alice" || correlation.From(ctx) != "req-1" {
		t.Fatalf("subject %q, id %q", correlation.Subject(ctx), correlation.From(ctx))
	}
	if got := correlation.Subject(context.Background()); got != "" {
		t.Fatalf("empty context gave %q", got)
	}
}

func TestLoggerAddsCorrelationIDAndSubject(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(correlation.WrapHandler(slog.NewJSONHandler(&buf, nil))).With("fn", "pay")
	log.InfoContext(correlation.WithSubject(correlation.With(context.Background(), "c-42"), "alice"), "charged")
	log.InfoContext(context.Background(), "seeded")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var rec, bare map[string]any
	if len(lines) != 2 || json.Unmarshal(lines[0], &rec) != nil || json.Unmarshal(lines[1], &bare) != nil {
		t.Fatalf("log %s", buf.Bytes())
	}
	if rec["correlationId"] != "c-42" || rec["subject"] != "alice" || rec["fn"] != "pay" {
		t.Fatalf("record %v", rec)
	}
	if _, ok := bare["subject"]; ok {
		t.Fatalf("a record without a subject in context has one: %v", bare)
	}
}
