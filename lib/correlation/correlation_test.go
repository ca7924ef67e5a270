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

func TestLoggerAddsCorrelationID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(correlation.WrapHandler(slog.NewJSONHandler(&buf, nil))).With("fn", "pay")
	log.InfoContext(correlation.With(context.Background(), "c-42"), "charged")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["correlationId"] != "c-42" || rec["fn"] != "pay" {
		t.Fatalf("record %v", rec)
	}
}
